#!/usr/bin/env bash
# build-images.sh COLLECTOR_MANIFEST [BACKEND ...]   (backends: prometheus alertmanager loki tempo; default all)
#
# Builds local container images of the stack's components where no image registry is reachable.
# Each image is defined by scripts/images/<component>.Dockerfile, written to behave like the upstream
# image at the pinned version where the generated compose file depends on it: the same user and
# uid, a shell and busybox only where upstream has them, the same data directories and ownership,
# the same entrypoint and command conventions (each Dockerfile says how it differs). The binaries
# come from the Go modules (build-backends.sh) and the generated OCB manifest (build-collector.sh);
# Debian's busybox-static stands in for the busybox of the images that have one.
#
# Images are tagged ${OTELKIT_IMAGE_PREFIX:-otelkit-local}/<component>:<version>-<key>, where <key>
# hashes the Dockerfile and every file it copies, and are skipped when that tag exists: a changed
# definition or binary builds a new image, an unchanged one is reused.
#
# stdout: OTELKIT_<COMPONENT>_IMAGE=<image> lines, the variables the generated compose file reads.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
manifest=${1:?usage: build-images.sh COLLECTOR_MANIFEST [BACKEND ...]}
shift
backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(prometheus alertmanager loki tempo)
busybox=${OTELKIT_BUSYBOX:-/bin/busybox}
ca_bundle=${OTELKIT_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

log() { printf '[build-images] %s\n' "$*" >&2; }
die() { printf '[build-images] error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "no Docker engine answering; start dockerd first"
if [[ ! -x "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
  die "a static busybox is needed at $busybox (Debian package busybox-static)"
fi
[[ -f "$ca_bundle" ]] || die "no CA bundle at $ca_bundle (Debian package ca-certificates)"

# build_image COMPONENT VERSION NAME=PATH ...   (the files the component's Dockerfile copies)
build_image() {
  local component=$1 version=$2
  shift 2
  local dockerfile=$here/images/$component.Dockerfile
  [[ -f "$dockerfile" ]] || die "no image definition: $dockerfile"
  local key
  key=$(
    {
      sha256sum <"$dockerfile"
      for file in "$@"; do printf '%s ' "${file%%=*}"; sha256sum <"${file#*=}"; done
    } | sha256sum | cut -c1-12
  )
  local image="${OTELKIT_IMAGE_PREFIX:-otelkit-local}/$component:$version-$key"
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "image exists: $image"
  else
    local context
    context=$(mktemp -d)
    cp "$dockerfile" "$context/Dockerfile"
    for file in "$@"; do cp "${file#*=}" "$context/${file%%=*}"; done
    log "building $image"
    if ! docker build -q -t "$image" "$context" >&2; then
      rm -rf "$context"
      die "docker build of $image failed"
    fi
    rm -rf "$context"
  fi
  printf 'OTELKIT_%s_IMAGE=%s\n' "$(tr '[:lower:]' '[:upper:]' <<<"$component")" "$image"
}

collector=$("$here/build-collector.sh" "$manifest" | tail -n1)
collector_key=$(basename "$(dirname "$collector")")
build_image collector "${collector_key:0:16}" otelcol-otelkit="$collector" ca-certificates.crt="$ca_bundle"

# The servers' images carry their command-line tools as upstream's do: the compose healthchecks use
# promtool and amtool.
tools=()
for backend in "${backends[@]}"; do
  case $backend in
    prometheus) tools+=(prometheus promtool) ;;
    alertmanager) tools+=(alertmanager amtool) ;;
    loki | tempo) tools+=("$backend") ;;
    *) die "unknown backend: $backend (use prometheus, alertmanager, loki, tempo)" ;;
  esac
done
backend_binaries=$("$here/build-backends.sh" "${tools[@]}")
declare -A built=()
while IFS='=' read -r tool path; do
  [[ -n "$tool" ]] && built[$tool]=$path
done <<<"$backend_binaries"

version_of() { # the version is the name of the binary's cache directory: <tool>-<version>
  local dir
  dir=$(basename "$(dirname "${built[$1]}")")
  printf '%s\n' "${dir#"$1"-}"
}

for backend in "${backends[@]}"; do
  case $backend in
    prometheus)
      build_image prometheus "$(version_of prometheus)" busybox="$busybox" \
        prometheus="${built[prometheus]}" promtool="${built[promtool]}"
      ;;
    alertmanager)
      build_image alertmanager "$(version_of alertmanager)" busybox="$busybox" \
        alertmanager="${built[alertmanager]}" amtool="${built[amtool]}"
      ;;
    loki)
      build_image loki "$(version_of loki)" busybox="$busybox" loki="${built[loki]}" \
        ca-certificates.crt="$ca_bundle"
      ;;
    tempo)
      build_image tempo "$(version_of tempo)" busybox="$busybox" tempo="${built[tempo]}" \
        ca-certificates.crt="$ca_bundle"
      ;;
  esac
done
