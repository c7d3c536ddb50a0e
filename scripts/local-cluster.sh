#!/usr/bin/env bash
# local-cluster.sh up --api-only | down | build
#
# A throwaway Kubernetes control plane on loopback, built from the Go module
# proxy (no image registry is reachable here), for the tests of the generated
# k8s/ output:
#
#   build            build and cache the binaries and the operators' CRDs only
#   up --api-only    etcd + kube-apiserver on 127.0.0.1 with both operators' CRDs
#                    applied server-side; the last stdout line is KUBECONFIG=<path>
#   down             stop exactly the processes `up` recorded
#
# Binaries are cached by version, so a warm `up` takes seconds:
#
#   ${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}/k8s/bin/<tool>-<version>/<tool>
#   ${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}/k8s/crds/<operator>-<version>/*.yaml
#
# The cluster's state (certificates, etcd data, logs, PIDs) lives in
# ${OTELKIT_CLUSTER_DIR:-<cache>/k8s/cluster}. A node (kubelet, containerd, the
# operators running) is not part of this script yet.
#
# Environment:
#   OTELKIT_CACHE_DIR     cache root (default: $HOME/.cache/otelkit)
#   OTELKIT_CLUSTER_DIR   state directory of the running cluster
#   OTELKIT_ETCD_PORT     etcd client port (default 23790; peer = +1, metrics = +2)
#   OTELKIT_APISERVER_PORT  kube-apiserver secure port (default 26443)
#   OTELKIT_FORCE_BUILD=1 rebuild even if a cached binary exists
set -euo pipefail

# Pinned versions (see ../shared/KUBERNETES.md for what builds here).
readonly KUBERNETES_VERSION="v1.37.2"
readonly KUBERNETES_STAGING_VERSION="v0.37.2"
readonly ETCD_VERSION="v3.7.3"
readonly CONTROLLER_GEN_VERSION="v0.21.0"
readonly PROMETHEUS_OPERATOR_VERSION="v0.95.2"
readonly OTEL_OPERATOR_VERSION="v0.140.0"

readonly PROMETHEUS_OPERATOR_APIS="github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
readonly OTEL_OPERATOR_MODULE="github.com/open-telemetry/opentelemetry-operator"
readonly SERVICE_CIDR="10.96.0.0/16"
readonly FIRST_SERVICE_IP="10.96.0.1"

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { printf '[local-cluster] error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cache_root=${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}
k8s_cache="$cache_root/k8s"
cluster_dir=${OTELKIT_CLUSTER_DIR:-$k8s_cache/cluster}
etcd_port=${OTELKIT_ETCD_PORT:-23790}
apiserver_port=${OTELKIT_APISERVER_PORT:-26443}

# Builds share 2 cores with everything else on these machines: always lowest priority.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
gobuild() { nice -n 19 go build -trimpath "$@"; }

bin_path() { printf '%s/bin/%s-%s/%s\n' "$k8s_cache" "$1" "$2" "$1"; }

# Runs "$@" with a private temp dir as $work; the result is renamed into place by the caller, so
# an interrupted build never leaves a half-written binary in the cache.
new_work() { mktemp -d "${TMPDIR:-/tmp}/otelkit-k8s-build.XXXXXX"; }

# Serialises builds of the same thing across concurrent callers (tests running in parallel).
with_lock() {
  local name=$1
  shift
  mkdir -p "$k8s_cache/locks"
  (
    flock 9
    "$@"
  ) 9>"$k8s_cache/locks/$name.lock"
}

# k8s.io/kubernetes as a module: its go.mod replaces the staging modules with ./staging paths that
# are not in the module zip, so a wrapper requires each of them at the matching v0.x version.
build_kubernetes() {
  local apiserver kubectl
  apiserver=$(bin_path kube-apiserver "$KUBERNETES_VERSION")
  kubectl=$(bin_path kubectl "$KUBERNETES_VERSION")
  if [[ -x $apiserver && -x $kubectl && -z ${OTELKIT_FORCE_BUILD:-} ]]; then return 0; fi
  local work gomod staging m
  work=$(new_work)
  log "building kube-apiserver and kubectl $KUBERNETES_VERSION in $work (cold: ~10 min on 2 idle cores)"
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f $gomod ]] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  # The sample-* modules are examples, not served by the proxy and not needed.
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod" | grep -v '^k8s.io/sample-')
  {
    printf 'module otelkit.local/k8s-build\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n' "$KUBERNETES_VERSION"
    for m in $staging; do printf 'require %s %s\n' "$m" "$KUBERNETES_STAGING_VERSION"; done
    for m in $staging; do printf 'replace %s => %s %s\n' "$m" "$m" "$KUBERNETES_STAGING_VERSION"; done
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  (cd "$work" && nice -n 19 go mod tidy) || die "go mod tidy failed for the Kubernetes wrapper module ($work)"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
  (cd "$work" && gobuild -ldflags "$ldflags" -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver) ||
    die "building kube-apiserver failed ($work)"
  (cd "$work" && gobuild -ldflags "$ldflags" -o "$work/kubectl" k8s.io/kubernetes/cmd/kubectl) ||
    die "building kubectl failed ($work)"
  mkdir -p "$(dirname "$apiserver")" "$(dirname "$kubectl")"
  mv -f "$work/kube-apiserver" "$apiserver"
  mv -f "$work/kubectl" "$kubectl"
  rm -rf "$work"
  log "cached $apiserver and $kubectl"
}

build_etcd() {
  local etcd
  etcd=$(bin_path etcd "$ETCD_VERSION")
  if [[ -x $etcd && -z ${OTELKIT_FORCE_BUILD:-} ]]; then return 0; fi
  local work m
  work=$(new_work)
  log "building etcd $ETCD_VERSION in $work"
  {
    printf 'module otelkit.local/etcd-build\n\ngo 1.26\n\n'
    for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do
      printf 'require go.etcd.io/etcd/%s %s\n' "$m" "$ETCD_VERSION"
    done
  } >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$work/tools.go"
  (cd "$work" && nice -n 19 go mod tidy && gobuild -o "$work/etcd" go.etcd.io/etcd/server/v3) ||
    die "building etcd failed ($work)"
  mkdir -p "$(dirname "$etcd")"
  mv -f "$work/etcd" "$etcd"
  rm -rf "$work"
  log "cached $etcd"
}

build_controller_gen() {
  local cg
  cg=$(bin_path controller-gen "$CONTROLLER_GEN_VERSION")
  if [[ -x $cg && -z ${OTELKIT_FORCE_BUILD:-} ]]; then return 0; fi
  local work
  work=$(new_work)
  log "building controller-gen $CONTROLLER_GEN_VERSION"
  GOBIN="$work" nice -n 19 go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION" ||
    die "building controller-gen failed"
  mkdir -p "$(dirname "$cg")"
  mv -f "$work/controller-gen" "$cg"
  rm -rf "$work"
}

crds_dir() { printf '%s/crds/%s-%s\n' "$k8s_cache" "$1" "$2"; }

# CRDs from the operators' Go API types (the module proxy serves Go code, so the CRD YAML is
# generated here rather than taken from the modules' files). Descriptions are dropped: the API
# server validates the schema only, and they make the objects several times larger.
generate_crds() {
  local name=$1 version=$2 module=$3 packages=$4
  shift 4 # the rest: packages to import, so that tidy resolves what controller-gen loads
  local out
  out=$(crds_dir "$name" "$version")
  if compgen -G "$out/*.yaml" >/dev/null && [[ -z ${OTELKIT_FORCE_BUILD:-} ]]; then return 0; fi
  local work p
  work=$(new_work)
  log "generating the $name $version CRDs with controller-gen"
  printf 'module otelkit.local/crd-build\n\ngo 1.26\n\nrequire %s %s\n' "$module" "$version" >"$work/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\n'
    for p in "$@"; do printf 'import _ "%s"\n' "$p"; done
  } >"$work/tools.go"
  (cd "$work" && nice -n 19 go mod tidy) || die "go mod tidy failed for $name ($work)"
  mkdir -p "$work/out"
  (cd "$work" && nice -n 19 "$(bin_path controller-gen "$CONTROLLER_GEN_VERSION")" \
    crd:maxDescLen=0 paths="$packages" output:crd:dir="$work/out") || die "controller-gen failed for $name ($work)"
  compgen -G "$work/out/*.yaml" >/dev/null || die "controller-gen wrote no CRD for $name ($work)"
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  mv "$work/out" "$out"
  rm -rf "$work"
  log "cached $(ls "$out" | wc -l) CRDs in $out"
}

build_all() {
  with_lock etcd build_etcd
  with_lock controller-gen build_controller_gen
  with_lock crds-prometheus-operator generate_crds prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
    "$PROMETHEUS_OPERATOR_APIS" "$PROMETHEUS_OPERATOR_APIS/..." \
    "$PROMETHEUS_OPERATOR_APIS/v1" "$PROMETHEUS_OPERATOR_APIS/v1alpha1" "$PROMETHEUS_OPERATOR_APIS/v1beta1"
  with_lock crds-opentelemetry-operator generate_crds opentelemetry-operator "$OTEL_OPERATOR_VERSION" \
    "$OTEL_OPERATOR_MODULE" "$OTEL_OPERATOR_MODULE/apis/..." \
    "$OTEL_OPERATOR_MODULE/apis/v1alpha1" "$OTEL_OPERATOR_MODULE/apis/v1beta1"
  with_lock kubernetes build_kubernetes
}

pids_file="$cluster_dir/pids"
kubeconfig="$cluster_dir/kubeconfig"

# A PID is ours only while its command line still names our cluster directory (the PID may have
# been reused by an unrelated process since `up` recorded it).
ours() {
  local pid=$1
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$cluster_dir"
}

running() {
  [[ -s $pids_file ]] || return 1
  local name pid
  while read -r name pid; do ours "$pid" || return 1; done <"$pids_file"
}

write_certs() {
  local pki="$cluster_dir/pki"
  [[ -f $pki/apiserver.crt && -f $pki/sa.pub ]] && return 0
  mkdir -p "$pki"
  log "creating certificates in $pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=otelkit-local-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
      "$FIRST_SERVICE_IP" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt \
      -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  ) || die "openssl failed to create the certificates"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open() { ! port_free "$1"; }

start() { # start NAME LOG CMD...: a background process whose PID `down` stops
  local name=$1 logfile=$2
  shift 2
  # 9>&-: the lock's descriptor must not outlive `up` in the servers, or `down` would wait forever
  nohup "$@" >"$logfile" 2>&1 </dev/null 9>&- &
  printf '%s %s\n' "$name" "$!" >>"$pids_file"
}

wait_for() { # wait_for SECONDS CMD...
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

up_api_only() {
  build_all
  local etcd apiserver kubectl
  etcd=$(bin_path etcd "$ETCD_VERSION")
  apiserver=$(bin_path kube-apiserver "$KUBERNETES_VERSION")
  kubectl=$(bin_path kubectl "$KUBERNETES_VERSION")
  mkdir -p "$cluster_dir"
  if running; then
    log "already running (PIDs in $pids_file)"
  else
    [[ -f $pids_file ]] && down
    port_free "$etcd_port" || die "127.0.0.1:$etcd_port is in use; set OTELKIT_ETCD_PORT"
    port_free "$apiserver_port" || die "127.0.0.1:$apiserver_port is in use; set OTELKIT_APISERVER_PORT"
    write_certs
    local pki="$cluster_dir/pki" token
    token=$(openssl rand -hex 24)
    printf '%s,admin,admin,system:masters\n' "$token" >"$cluster_dir/tokens.csv"
    chmod 600 "$cluster_dir/tokens.csv"
    rm -rf "$cluster_dir/etcd"
    : >"$pids_file"
    local client="http://127.0.0.1:$etcd_port" peer="http://127.0.0.1:$((etcd_port + 1))"
    start etcd "$cluster_dir/etcd.log" "$etcd" --name otelkit --data-dir "$cluster_dir/etcd" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "otelkit=$peer" \
      --listen-metrics-urls "http://127.0.0.1:$((etcd_port + 2))" --unsafe-no-fsync
    # listening is enough: the API server waits for etcd itself, and readyz below covers both
    wait_for 30 port_open "$etcd_port" || {
      tail -20 "$cluster_dir/etcd.log" >&2
      down
      die "etcd did not become healthy (log: $cluster_dir/etcd.log)"
    }
    # --endpoint-reconciler-type=none: a loopback advertise address is refused otherwise
    start kube-apiserver "$cluster_dir/kube-apiserver.log" "$apiserver" \
      --etcd-servers="$client" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
      --secure-port="$apiserver_port" --endpoint-reconciler-type=none --cert-dir="$pki" \
      --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
      --client-ca-file="$pki/ca.crt" --token-auth-file="$cluster_dir/tokens.csv" \
      --authorization-mode=Node,RBAC \
      --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
      --service-account-issuer=https://kubernetes.default.svc.cluster.local \
      --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false
    cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: otelkit-local
    cluster:
      server: https://127.0.0.1:$apiserver_port
      certificate-authority: $pki/ca.crt
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: otelkit-local
    context: { cluster: otelkit-local, user: admin }
current-context: otelkit-local
EOF
    chmod 600 "$kubeconfig"
    wait_for 120 "$kubectl" --kubeconfig "$kubeconfig" get --raw /readyz || {
      tail -20 "$cluster_dir/kube-apiserver.log" >&2
      down
      die "kube-apiserver did not become ready (log: $cluster_dir/kube-apiserver.log)"
    }
    log "kube-apiserver ready on https://127.0.0.1:$apiserver_port"
  fi
  local dir
  for dir in "$(crds_dir prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")" \
    "$(crds_dir opentelemetry-operator "$OTEL_OPERATOR_VERSION")"; do
    # server-side: the largest CRDs exceed the client-side last-applied annotation limit
    "$kubectl" --kubeconfig "$kubeconfig" apply --server-side --force-conflicts -f "$dir" >&2 ||
      die "applying the CRDs in $dir failed"
  done
  "$kubectl" --kubeconfig "$kubeconfig" wait --for condition=established --timeout=60s crd --all >&2 ||
    die "the CRDs did not become established"
  printf 'KUBECTL=%s\n' "$kubectl"
  printf 'KUBECONFIG=%s\n' "$kubeconfig"
}

down() {
  [[ -f $pids_file ]] || {
    log "not running"
    return 0
  }
  local name pid pids=()
  # reverse start order: the API server before etcd
  while read -r name pid; do
    if ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      log "stopping $name ($pid)"
    fi
  done < <(tac "$pids_file")
  local i alive
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pid in "${pids[@]}"; do ours "$pid" && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi; done
  rm -f "$pids_file"
}

cmd=${1:-}
case $cmd in
build)
  build_all
  ;;
up)
  [[ ${2:-} == --api-only ]] || die "only 'up --api-only' exists so far (a node comes in a later phase)"
  mkdir -p "$k8s_cache"
  with_lock cluster up_api_only
  ;;
down)
  mkdir -p "$k8s_cache"
  with_lock cluster down
  ;;
*) usage ;;
esac
