# Behaves like prom/prometheus (Prometheus's Dockerfile): a busybox base (sh, wget, chown in /bin),
# prometheus and promtool in /bin, user nobody (65534) owning /etc/prometheus and /prometheus.
# Differs: Debian's static busybox instead of quay.io/prometheus/busybox, a shorter default config
# (Prometheus scraping itself), and no web UI (built without the npm-built assets; see
# scripts/build-backends.sh).
FROM scratch
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc/prometheus /prometheus /home /tmp && chmod 1777 /tmp && \
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >/etc/passwd && \
    printf 'root:x:0:\nnobody:x:65534:\n' >/etc/group && \
    printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [localhost:9090]\n' \
      >/etc/prometheus/prometheus.yml
COPY prometheus promtool /bin/
WORKDIR /prometheus
RUN chown -R nobody:nobody /etc/prometheus /prometheus && chmod g+w /prometheus
USER nobody
EXPOSE 9090
VOLUME ["/prometheus"]
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
