# Behaves like otel/opentelemetry-collector-contrib (opentelemetry-collector-releases,
# distributions/otelcol-contrib/Dockerfile): FROM scratch with the CA bundle and the binary only, so
# no shell, no HTTP client, no /tmp and no user database; runs as 10001:10001.
# Differs: the binary is the one built from the generated OCB manifest (/otelcol-otelkit, not
# /otelcol-contrib), and there is no default config (the compose file passes its own).
FROM scratch
ARG USER_UID=10001
ARG USER_GID=10001
USER ${USER_UID}:${USER_GID}
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY otelcol-otelkit /otelcol-otelkit
ENTRYPOINT ["/otelcol-otelkit"]
CMD ["--config", "/etc/otelcol-contrib/config.yaml"]
EXPOSE 4317 4318 55679
