# Behaves like grafana/tempo 2.8 (cmd/tempo/Dockerfile): distroless static:debug, so busybox only
# under /busybox (on PATH) and no /bin/sh; tempo at /tempo, uid 10001:10001 (user tempo) owning
# /var/tempo (0700).
# Differs: Debian's static busybox instead of distroless's, no tzdata.
FROM scratch
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY busybox /busybox/busybox
RUN ["/busybox/busybox", "--install", "-s", "/busybox"]
SHELL ["/busybox/sh", "-c"]
RUN mkdir -p /etc /home /tmp && chmod 1777 /tmp && \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\ntempo:x:10001:10001::/home/tempo:/sbin/nologin\n' >/etc/passwd && \
    printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\ntempo:x:10001:\n' >/etc/group && \
    mkdir -p -m 0700 /var/tempo && chown -R tempo:tempo /var/tempo
COPY tempo /tempo
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 10001:10001
ENTRYPOINT ["/tempo"]
