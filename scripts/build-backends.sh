#!/usr/bin/env bash
# build-backends.sh [TOOL ...]
#
# Builds the backends otelkit validates its generated configs with, from their
# upstream Go modules at the pinned versions below, as static (CGO_ENABLED=0)
# binaries, and caches them:
#
#   ${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}/bin/<tool>-<version>/<tool>
#
# TOOL is any of: promtool amtool prometheus alertmanager loki tempo
# (default: all, in that order). A tool whose cached binary exists is not
# rebuilt; a fresh build is renamed into place atomically.
#
# stdout: one `tool=/abs/path/to/binary` line per requested tool. Progress and
# errors go to stderr. Exits non-zero if any requested tool failed to build
# (the tools that did build are still printed).
#
# Environment:
#   OTELKIT_CACHE_DIR     cache root (default: $HOME/.cache/otelkit)
#   OTELKIT_FORCE_BUILD=1 rebuild even if a cached binary exists
#   OTELKIT_KEEP_BUILD=1  keep the temporary source copy (printed on stderr)
#   GOMODCACHE / GOCACHE / GOPROXY are honoured as usual.
set -euo pipefail

# Pinned versions: generator/model/versions.ts, read through pinned-versions.sh
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=pinned-versions.sh
source "$here/pinned-versions.sh"
readonly ALL_TOOLS=(promtool amtool prometheus alertmanager loki tempo)

log() { printf '[build-backends] %s\n' "$*" >&2; }
die() { printf '[build-backends] error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

for arg in "$@"; do
  case $arg in
    -h | --help) usage ;;
    promtool | amtool | prometheus | alertmanager | loki | tempo) ;;
    *) printf '[build-backends] error: unknown tool: %s\n' "$arg" >&2; usage ;;
  esac
done
if [[ $# -eq 0 ]]; then
  set -- "${ALL_TOOLS[@]}"
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH (a Go toolchain is required)"

cache_root=${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}
mkdir -p "$cache_root/bin"
cache_root=$(cd "$cache_root" && pwd -P)
bin_root=$cache_root/bin

# Scratch space on the cache's file system; removed on exit unless OTELKIT_KEEP_BUILD=1.
work=$(mktemp -d "$cache_root/bin/.build.XXXXXX")
cleanup() {
  if [[ "${OTELKIT_KEEP_BUILD:-}" == "1" ]]; then
    log "build dir kept: $work"
  else
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# Per-tool facts. Sets: module modver version pkg tags vpkg
tool_facts() {
  case $1 in
    prometheus | promtool)
      module=$PROMETHEUS_MODULE modver=$PROMETHEUS_MODULE_VERSION version=$PROMETHEUS_VERSION
      pkg=./cmd/$1
      # Upstream release builds add `builtinassets`, which embeds the web UI
      # compiled by npm (web/ui/static); the module zip does not carry it, so
      # the server is built without it: API, /-/ready, remote-write and OTLP
      # receivers all work, the React UI pages are not served.
      tags=netgo
      vpkg=github.com/prometheus/common/version
      ;;
    alertmanager | amtool)
      module=$ALERTMANAGER_MODULE modver=$ALERTMANAGER_MODULE_VERSION version=$ALERTMANAGER_VERSION
      pkg=./cmd/$1 tags=netgo vpkg=github.com/prometheus/common/version
      ;;
    loki)
      module=$LOKI_MODULE modver=$LOKI_MODULE_VERSION version=$LOKI_VERSION
      pkg=./cmd/loki tags=netgo vpkg=github.com/grafana/loki/v3/pkg/util/build
      ;;
    tempo)
      module=$TEMPO_MODULE modver=$TEMPO_MODULE_VERSION version=$TEMPO_VERSION
      pkg=./cmd/tempo tags=netgo vpkg=main
      ;;
    *) die "unknown tool: $1" ;;
  esac
}

# go env for one module's download/build. Tempo is fetched by pseudo-version,
# which the checksum database proxy here does not answer for: skip the sumdb for
# that one module only (its dependencies are still verified against go.sum/sumdb).
# Sets the global array go_env.
module_env() {
  go_env=(GOWORK=off CGO_ENABLED=0)
  if [[ $1 == "$TEMPO_MODULE" ]]; then
    go_env+=("GONOSUMDB=${GONOSUMDB:+$GONOSUMDB,}$TEMPO_MODULE")
  fi
}

# prepare_source MODULE VERSION -> prints a writable copy of the module's source
# (one copy per module per run, shared by prometheus/promtool and alertmanager/amtool).
prepare_source() {
  local module=$1 modver=$2 key src json dir
  key=$(printf '%s@%s' "$module" "$modver" | tr '/@' '__')
  src=$work/src/$key
  if [[ -d "$src" ]]; then
    printf '%s\n' "$src"
    return
  fi
  module_env "$module"
  log "downloading $module@$modver"
  json=$(cd "$work" && env "${go_env[@]}" go mod download -json "$module@$modver") ||
    die "go mod download $module@$modver failed: $json"
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [[ -n "$dir" && -d "$dir" ]] || die "no source dir for $module@$modver: $json"
  mkdir -p "$work/src"
  cp -R "$dir" "$src.tmp"
  chmod -R u+w "$src.tmp"
  case $module in
    "$ALERTMANAGER_MODULE")
      # ui/web.go embeds ui/app/dist (the Elm/JS UI built by npm), which the
      # module zip lacks; the embed pattern must match at least one file.
      if [[ ! -d "$src.tmp/ui/app/dist" ]]; then
        mkdir -p "$src.tmp/ui/app/dist"
        printf '<!DOCTYPE html><title>Alertmanager</title><p>UI not built (otelkit build-backends.sh); use the API under /api/v2/.</p>\n' \
          >"$src.tmp/ui/app/dist/index.html"
      fi
      ;;
    "$LOKI_MODULE")
      # go.mod has `replace github.com/grafana/loki/pkg/push => ./pkg/push`, but
      # pkg/push is a nested module and so is not in the module zip. Drop the
      # replace: the build then uses the pkg/push version go.mod itself requires
      # (a real upstream version; `go mod download` adds its go.sum lines, checked
      # against the checksum database).
      if [[ ! -f "$src.tmp/pkg/push/go.mod" ]]; then
        (cd "$src.tmp" &&
          go mod edit -dropreplace github.com/grafana/loki/pkg/push &&
          env "${go_env[@]}" go mod download github.com/grafana/loki/pkg/push) ||
          die "could not use github.com/grafana/loki/pkg/push from its module"
      fi
      ;;
  esac
  mv "$src.tmp" "$src"
  printf '%s\n' "$src"
}

build_tool() {
  local tool=$1 module modver version pkg tags vpkg
  tool_facts "$tool"
  local dest_dir=$bin_root/$tool-$version
  local dest=$dest_dir/$tool
  if [[ -x "$dest" && "${OTELKIT_FORCE_BUILD:-}" != "1" ]]; then
    log "$tool $version: cached"
    printf '%s=%s\n' "$tool" "$dest"
    return 0
  fi
  local src
  src=$(prepare_source "$module" "$modver") || return 1

  local ldflags="-s -w"
  ldflags+=" -X $vpkg.Version=$version"
  ldflags+=" -X $vpkg.Revision=$modver"
  ldflags+=" -X $vpkg.Branch=otelkit"
  if [[ $vpkg != main ]]; then
    ldflags+=" -X $vpkg.BuildUser=otelkit"
    ldflags+=" -X $vpkg.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  fi

  module_env "$module"
  mkdir -p "$dest_dir"
  local tmp_out=$dest_dir/.$tool.tmp.$$
  local start=$SECONDS
  log "building $tool $version ($module@$modver $pkg)"
  if ! (cd "$src" && env "${go_env[@]}" go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp_out" "$pkg"); then
    rm -f "$tmp_out"
    log "error: build of $tool $version failed"
    return 1
  fi
  mv -f "$tmp_out" "$dest"
  log "built $tool $version in $((SECONDS - start))s: $dest"
  printf '%s=%s\n' "$tool" "$dest"
}

failed=()
for tool in "$@"; do
  build_tool "$tool" || failed+=("$tool")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  die "failed: ${failed[*]}"
fi
