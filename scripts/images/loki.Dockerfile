# Behaves like grafana/loki 3.7 (cmd/loki/Dockerfile): distroless static:nonroot, so no shell and no
# busybox; loki in /usr/bin (its own `-health` flag is the only healthcheck), uid 10001 (user loki)
# owning /etc/loki and /loki with rules and rules-temp.
# Differs: no tzdata and no example config (the compose file passes its own).
FROM scratch AS filesystem
COPY busybox /busybox
RUN ["/busybox", "sh", "-c", "/busybox mkdir -p /rootfs/etc /rootfs/tmp /owned/etc/loki /owned/loki/rules /owned/loki/rules-temp && /busybox chmod 1777 /rootfs/tmp && /busybox printf 'root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\nloki:x:10001:10001::/home/loki:/sbin/nologin\\n' >/rootfs/etc/passwd && /busybox printf 'root:x:0:\\nnobody:x:65534:\\nnonroot:x:65532:\\nloki:x:10001:\\n' >/rootfs/etc/group"]

FROM scratch
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY --from=filesystem /rootfs/ /
COPY --from=filesystem --chown=10001:10001 /owned/etc/loki /etc/loki
COPY --from=filesystem --chown=10001:10001 /owned/loki /loki
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY loki /usr/bin/loki
USER 10001
WORKDIR /
EXPOSE 3100
ENTRYPOINT ["/usr/bin/loki"]
CMD ["-config.file=/etc/loki/local-config.yaml"]
