# Behaves like prom/alertmanager (Alertmanager's Dockerfile): a busybox base (sh, wget in /bin),
# alertmanager and amtool in /bin, user nobody (65534) owning /etc/alertmanager and /alertmanager.
# Differs: Debian's static busybox instead of quay.io/prometheus/busybox, a default config with one
# receiver and no integrations, and a placeholder page instead of the web UI (see
# scripts/build-backends.sh).
FROM scratch
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc/alertmanager /alertmanager /home /tmp && chmod 1777 /tmp && \
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >/etc/passwd && \
    printf 'root:x:0:\nnobody:x:65534:\n' >/etc/group && \
    printf 'route:\n  receiver: default\nreceivers:\n  - name: default\n' >/etc/alertmanager/alertmanager.yml
COPY alertmanager amtool /bin/
RUN chown -R nobody:nobody /etc/alertmanager /alertmanager && chmod -R g+w /alertmanager
USER nobody
EXPOSE 9093
VOLUME ["/alertmanager"]
WORKDIR /alertmanager
ENTRYPOINT ["/bin/alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
