#!/usr/bin/env bash
# build-images.sh COLLECTOR_MANIFEST [BACKEND ...]   (backends: prometheus alertmanager loki tempo; default all)
#
# Builds local container images of the stack's backends where no image registry is reachable:
# FROM scratch, one static binary (built from its Go module by build-backends.sh, or from the
# generated OCB manifest by build-collector.sh) plus Debian's busybox-static for the shell and
# wget the compose healthchecks use. Images are tagged ${OTELKIT_IMAGE_PREFIX:-otelkit-local}/<component>:<version>
# and skipped when that tag exists.
#
# stdout: OTELKIT_<COMPONENT>_IMAGE=<image> lines, the variables the generated compose file reads.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
manifest=${1:?usage: build-images.sh COLLECTOR_MANIFEST [BACKEND ...]}
shift
backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(prometheus alertmanager loki tempo)
busybox=${OTELKIT_BUSYBOX:-/bin/busybox}

log() { printf '[build-images] %s\n' "$*" >&2; }
die() { printf '[build-images] error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "no Docker engine answering; start dockerd first"
if [[ ! -x "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
  die "a static busybox is needed at $busybox (Debian package busybox-static)"
fi

# binary name, binary path, tag, component (names the compose variable)
build_image() {
  local name=$1 binary=$2 image="${OTELKIT_IMAGE_PREFIX:-otelkit-local}/$1:$3"
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "image exists: $image"
  else
    local context
    context=$(mktemp -d)
    mkdir -p "$context/bin" "$context/tmp"
    cp "$busybox" "$context/bin/busybox"
    cp "$binary" "$context/bin/$name"
    cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
COPY bin/ /bin/
COPY tmp/ /tmp/
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
ENTRYPOINT ["/bin/$name"]
DOCKERFILE
    log "building $image"
    docker build -q -t "$image" "$context" >&2
    rm -rf "$context"
  fi
  printf 'OTELKIT_%s_IMAGE=%s\n' "$(tr '[:lower:]' '[:upper:]' <<<"$4")" "$image"
}

collector=$("$here/build-collector.sh" "$manifest" | tail -n1)
collector_key=$(basename "$(dirname "$collector")")
build_image otelcol-otelkit "$collector" "${collector_key:0:16}" collector

while IFS='=' read -r tool path; do
  [[ -n "$tool" ]] || continue
  version=$(basename "$(dirname "$path")")
  version=${version#"$tool"-}
  build_image "$tool" "$path" "$version" "$tool"
done < <("$here/build-backends.sh" "${backends[@]}")
