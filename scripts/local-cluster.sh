#!/usr/bin/env bash
# local-cluster.sh up [--api-only] | down | build
#
# A throwaway single-node Kubernetes, built from the Go module proxy (no image
# registry is reachable here), for the tests of the generated k8s/ output:
#
#   build            build and cache every binary and the operators' CRDs
#   up               etcd, kube-apiserver, a node (a private containerd, kubelet,
#                    kube-proxy, CoreDNS, scheduler, controller-manager, local
#                    volumes) and both operators (OpenTelemetry, Prometheus)
#                    running against it with webhooks off; the project's local
#                    images (docker images otelkit-local/*) imported. Needs root.
#   up --api-only    etcd + kube-apiserver on 127.0.0.1 with both operators' CRDs
#   down             stop exactly the processes `up` recorded, remove its pods,
#                    mounts, bridge, routes and iptables rules
#
# `up` prints KUBECTL=<path> and, on its last stdout line, KUBECONFIG=<path>.
#
# Network safety: no packet to a pod or service address may leave the machine.
# The pod range 10.244.0.0/16 and the service range 10.96.0.0/16 are blackholed
# and the node's bridge otelkit0 (10.244.0.1/24) exists before containerd or the
# kubelet start; `up` aborts unless `ip route get` of a pod address names the
# bridge (and of other addresses in those ranges, the blackhole). Pods get no
# default route, and nothing from the bridge is forwarded off it.
#
# Binaries are cached by version, so a warm `up` takes seconds:
#
#   ${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}/k8s/bin/<tool>-<version>/<tool>
#   ${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}/k8s/crds/<operator>-<version>/*.yaml
#   ${OTELKIT_CACHE_DIR:-$HOME/.cache/otelkit}/k8s/containerd-root (imported images)
#
# The cluster's state (certificates, etcd data, logs, PIDs) lives in
# ${OTELKIT_CLUSTER_DIR:-<cache>/k8s/cluster}.
#
# Environment:
#   OTELKIT_CACHE_DIR     cache root (default: $HOME/.cache/otelkit)
#   OTELKIT_CLUSTER_DIR   state directory of the running cluster
#   OTELKIT_ETCD_PORT     etcd client port (default 23790; peer = +1, metrics = +2)
#   OTELKIT_APISERVER_PORT  kube-apiserver secure port (default 26443)
#   OTELKIT_FORCE_BUILD=1 rebuild even if a cached binary exists
set -euo pipefail

# Pinned versions: generator/model/versions.ts, read through pinned-versions.sh
# shellcheck source=pinned-versions.sh
source "$(cd "$(dirname "$0")" && pwd)/pinned-versions.sh"
readonly KUBERNETES_VERSION KUBERNETES_STAGING_VERSION ETCD_VERSION CONTROLLER_GEN_VERSION \
  PROMETHEUS_OPERATOR_VERSION PROMETHEUS_OPERATOR_RUN_VERSION OTEL_OPERATOR_VERSION COREDNS_VERSION
readonly PROMETHEUS_OPERATOR_MODULE="github.com/prometheus-operator/prometheus-operator"

readonly PROMETHEUS_OPERATOR_APIS="github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
readonly OTEL_OPERATOR_MODULE="github.com/open-telemetry/opentelemetry-operator"
readonly SERVICE_CIDR="10.96.0.0/16"
readonly FIRST_SERVICE_IP="10.96.0.1"

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { printf '[local-cluster] error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//' >&2
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

# Every Kubernetes command the cluster runs, built from one wrapper module.
readonly KUBE_API_COMMANDS="kube-apiserver kubectl"
readonly KUBE_NODE_COMMANDS="kubelet kube-scheduler kube-controller-manager kube-proxy"

# k8s.io/kubernetes as a module: its go.mod replaces the staging modules with ./staging paths that
# are not in the module zip, so a wrapper requires each of them at the matching v0.x version.
# build_kubernetes CMD...: builds the commands not cached yet, one at a time (2 shared cores).
build_kubernetes() {
  local c missing=()
  for c in "$@"; do
    [[ -x $(bin_path "$c" "$KUBERNETES_VERSION") && -z ${OTELKIT_FORCE_BUILD:-} ]] || missing+=("$c")
  done
  [[ ${#missing[@]} == 0 ]] && return 0
  local work gomod staging m
  work=$(new_work)
  log "building ${missing[*]} $KUBERNETES_VERSION in $work (cold: apiserver ~8 min, each other 1-2 min)"
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
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${missing[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$work/tools.go"
  (cd "$work" && nice -n 19 go mod tidy) || die "go mod tidy failed for the Kubernetes wrapper module ($work)"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
  for c in "${missing[@]}"; do
    local started=$SECONDS
    (cd "$work" && gobuild -ldflags "$ldflags" -o "$work/$c" "k8s.io/kubernetes/cmd/$c") || die "building $c failed ($work)"
    mkdir -p "$(dirname "$(bin_path "$c" "$KUBERNETES_VERSION")")"
    mv -f "$work/$c" "$(bin_path "$c" "$KUBERNETES_VERSION")"
    log "cached $(bin_path "$c" "$KUBERNETES_VERSION") ($((SECONDS - started)) s)"
  done
  rm -rf "$work"
}

# go_wrapper_build NAME VERSION "MODULE VERSION"... -- PACKAGE=BINARY...: builds main packages of
# modules that `go install` cannot (replace directives, or a version list the proxy refuses) in a
# wrapper module requiring them, and caches each binary under NAME-VERSION.
go_wrapper_build() {
  local name=$1 version=$2
  shift 2
  local requires=() targets=() t missing=0
  while [[ $# -gt 0 && $1 != -- ]]; do requires+=("$1"); shift; done
  shift
  targets=("$@")
  for t in "${targets[@]}"; do [[ -x $(bin_path "${t#*=}" "$version") ]] || missing=1; done
  [[ $missing == 0 && -z ${OTELKIT_FORCE_BUILD:-} ]] && return 0
  local work r
  work=$(new_work)
  log "building $name $version in $work"
  {
    printf 'module otelkit.local/%s-build\n\ngo 1.26\n\n' "$name"
    for r in "${requires[@]}"; do printf 'require %s\n' "$r"; done
  } >"$work/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for t in "${targets[@]}"; do printf '\t_ "%s"\n' "${t%=*}"; done
    printf ')\n'
  } >"$work/tools.go"
  (cd "$work" && nice -n 19 go mod tidy) || die "go mod tidy failed for $name ($work)"
  for t in "${targets[@]}"; do
    local started=$SECONDS out
    out=$(bin_path "${t#*=}" "$version")
    (cd "$work" && gobuild -o "$work/${t#*=}" "${t%=*}") || die "building ${t%=*} failed ($work)"
    mkdir -p "$(dirname "$out")"
    mv -f "$work/${t#*=}" "$out"
    log "cached $out ($((SECONDS - started)) s)"
  done
  rm -rf "$work"
}

build_otel_operator() {
  go_wrapper_build opentelemetry-operator "$OTEL_OPERATOR_VERSION" "$OTEL_OPERATOR_MODULE $OTEL_OPERATOR_VERSION" \
    -- "$OTEL_OPERATOR_MODULE=opentelemetry-operator"
}

# The main module's replace directives point at its own pkg/ modules, so the wrapper requires
# them at the same version.
build_prometheus_operator() {
  local m=$PROMETHEUS_OPERATOR_MODULE v=$PROMETHEUS_OPERATOR_RUN_VERSION
  go_wrapper_build prometheus-operator "$v" "$m $v" "$m/pkg/apis/monitoring $v" "$m/pkg/client $v" \
    -- "$m/cmd/operator=prometheus-operator" "$m/cmd/prometheus-config-reloader=prometheus-config-reloader"
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

# generateEmbeddedObjectMeta: as both operators generate theirs; without it the API server prunes
# the metadata of embedded objects, so a volumeClaimTemplate loses its name and the OpenTelemetry
# Operator's StatefulSet is refused. Descriptions are dropped: the API server validates the schema
# only, and they make the objects several times larger.
readonly CRD_OPTIONS="crd:generateEmbeddedObjectMeta=true,maxDescLen=0"

# CRDs from the operators' Go API types (the module proxy serves Go code, so the CRD YAML is
# generated here rather than taken from the modules' files).
generate_crds() {
  local name=$1 version=$2 module=$3 packages=$4
  shift 4 # the rest: packages to import, so that tidy resolves what controller-gen loads
  local out
  out=$(crds_dir "$name" "$version")
  # the options are part of the cache key: CRDs made with other options are made again
  if [[ $(cat "$out/.options" 2>/dev/null) == "$CRD_OPTIONS" && -z ${OTELKIT_FORCE_BUILD:-} ]]; then return 0; fi
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
    "$CRD_OPTIONS" paths="$packages" output:crd:dir="$work/out") || die "controller-gen failed for $name ($work)"
  compgen -G "$work/out/*.yaml" >/dev/null || die "controller-gen wrote no CRD for $name ($work)"
  printf '%s\n' "$CRD_OPTIONS" >"$work/out/.options"
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  mv "$work/out" "$out"
  rm -rf "$work"
  log "cached $(ls "$out" | wc -l) CRDs in $out"
}

# Cluster DNS: CoreDNS with only the plugins used here (all of them pull in every cloud SDK).
build_coredns() {
  local out
  out=$(bin_path coredns "$COREDNS_VERSION")
  [[ -x $out && -z ${OTELKIT_FORCE_BUILD:-} ]] && return 0
  local work m
  work=$(new_work)
  log "building coredns $COREDNS_VERSION (kubernetes, bind, errors, health, ready plugins) in $work"
  # its Kubernetes client at the cluster's version (CoreDNS 1.15 asks for 0.37.1): the packages the
  # Kubernetes build compiled are reused, which halves this build
  {
    printf 'module otelkit.local/coredns-build\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION"
    for m in api apimachinery client-go; do printf 'require k8s.io/%s %s\n' "$m" "$KUBERNETES_STAGING_VERSION"; done
  } >"$work/go.mod"
  cat >"$work/main.go" <<'EOF'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order CoreDNS's plugin.cfg gives these plugins.
func init() { dnsserver.Directives = []string{"bind", "ready", "health", "errors", "kubernetes"} }

func main() { coremain.Run() }
EOF
  (cd "$work" && nice -n 19 go mod tidy && gobuild -o "$work/coredns" .) || die "building coredns failed ($work)"
  mkdir -p "$(dirname "$out")"
  mv -f "$work/coredns" "$out"
  rm -rf "$work"
  log "cached $out"
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
  # shellcheck disable=SC2086 # word lists
  with_lock kubernetes build_kubernetes $KUBE_API_COMMANDS
}

build_node() {
  build_all
  # shellcheck disable=SC2086
  with_lock kubernetes build_kubernetes $KUBE_NODE_COMMANDS
  with_lock coredns build_coredns
  with_lock opentelemetry-operator build_otel_operator
  with_lock prometheus-operator build_prometheus_operator
}

pids_file="$cluster_dir/pids"
network_file="$cluster_dir/network"
kubeconfig="$cluster_dir/kubeconfig"
kubectl_bin() { bin_path kubectl "$KUBERNETES_VERSION"; }
k() { "$(kubectl_bin)" --kubeconfig "$kubeconfig" "$@"; }

# The node's network. The pod range and the service range are private addresses: a packet to one of
# them that took the default route would leave the machine, so both are blackholed before anything
# can send there, and the node's pod subnet is a bridge of its own with the first address on the
# host (also where the API server and the cluster DNS listen for pods).
readonly POD_CIDR="10.244.0.0/16"
readonly NODE_POD_SUBNET="10.244.0.0/24"
readonly BRIDGE="otelkit0"
readonly BRIDGE_IP="10.244.0.1"
readonly PROBE_POD_IP="10.244.0.250"
readonly PROBE_SERVICE_IP="10.96.255.250"
readonly NODE_NAME="localhost"
readonly GUARD_CHAIN="OTELKIT-GUARD"
readonly STORAGE_CLASS="otelkit-local"
readonly PAUSE_IMAGE="otelkit-local/pause:3.10"
readonly CONFIG_RELOADER_IMAGE="otelkit-local/prometheus-config-reloader:$PROMETHEUS_OPERATOR_RUN_VERSION"

# A PID is ours only while its command line still names our cluster directory (the PID may have
# been reused by an unrelated process since `up` recorded it).
ours() {
  local pid=$1
  [[ -r /proc/$pid/cmdline ]] && cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' '\n' |
    grep -qF -- "$cluster_dir"
}

running() {
  [[ -s $pids_file ]] || return 1
  local name pid
  while read -r name pid; do ours "$pid" || return 1; done <"$pids_file"
}

write_certs() {
  local pki="$cluster_dir/pki"
  # certificates of an older `up` without the bridge address are made again
  [[ -f $pki/apiserver.crt && -f $pki/sa.pub ]] && grep -qF "IP:$BRIDGE_IP" "$pki/apiserver.ext" 2>/dev/null &&
    return 0
  rm -rf "$pki"
  mkdir -p "$pki"
  log "creating certificates in $pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=otelkit-local-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
      "$FIRST_SERVICE_IP" "$BRIDGE_IP" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt \
      -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  ) || die "openssl failed to create the certificates"
}

port_free() { ! (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }
port_open() { ! port_free "$@"; }

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

fail_up() { # fail_up LOG MESSAGE: show the log's tail, undo everything, stop
  [[ -f $1 ]] && tail -30 "$1" >&2
  down
  die "$2 (log: $1)"
}

# start_control_plane ADDRESS: etcd on loopback, the API server on ADDRESS (loopback for
# --api-only; the bridge address with a node, where pods reach it through the kubernetes Service).
start_control_plane() {
  local address=$1
  local etcd apiserver
  etcd=$(bin_path etcd "$ETCD_VERSION")
  apiserver=$(bin_path kube-apiserver "$KUBERNETES_VERSION")
  port_free "$etcd_port" || die "127.0.0.1:$etcd_port is in use; set OTELKIT_ETCD_PORT"
  port_free "$apiserver_port" "$address" || die "$address:$apiserver_port is in use; set OTELKIT_APISERVER_PORT"
  write_certs
  local pki="$cluster_dir/pki" token
  token=$(openssl rand -hex 24)
  printf '%s,admin,admin,system:masters\n' "$token" >"$cluster_dir/tokens.csv"
  chmod 600 "$cluster_dir/tokens.csv"
  rm -rf "$cluster_dir/etcd"
  local client="http://127.0.0.1:$etcd_port" peer="http://127.0.0.1:$((etcd_port + 1))"
  start etcd "$cluster_dir/etcd.log" "$etcd" --name otelkit --data-dir "$cluster_dir/etcd" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "otelkit=$peer" \
    --listen-metrics-urls "http://127.0.0.1:$((etcd_port + 2))" --unsafe-no-fsync
  # listening is enough: the API server waits for etcd itself, and readyz below covers both
  wait_for 30 port_open "$etcd_port" || fail_up "$cluster_dir/etcd.log" "etcd did not become healthy"
  local reconciler=()
  # a loopback advertise address is refused by the endpoint reconciler
  [[ $address == 127.0.0.1 ]] && reconciler=(--endpoint-reconciler-type=none)
  start kube-apiserver "$cluster_dir/kube-apiserver.log" "$apiserver" \
    --etcd-servers="$client" --bind-address="$address" --advertise-address="$address" \
    --secure-port="$apiserver_port" "${reconciler[@]}" --cert-dir="$pki" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$cluster_dir/tokens.csv" \
    --authorization-mode=Node,RBAC --kubelet-preferred-address-types=Hostname,InternalIP \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false
  cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: otelkit-local
    cluster:
      server: https://$address:$apiserver_port
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
  wait_for 120 k get --raw /readyz || fail_up "$cluster_dir/kube-apiserver.log" "kube-apiserver did not become ready"
  log "kube-apiserver ready on https://$address:$apiserver_port"
  local dir
  for dir in "$(crds_dir prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")" \
    "$(crds_dir opentelemetry-operator "$OTEL_OPERATOR_VERSION")"; do
    # server-side: the largest CRDs exceed the client-side last-applied annotation limit
    k apply --server-side --force-conflicts -f "$dir" >&2 || fail_up /dev/null "applying the CRDs in $dir failed"
  done
  k wait --for condition=established --timeout=60s crd --all >&2 || fail_up /dev/null "the CRDs did not become established"
}

up_api_only() {
  build_all
  mkdir -p "$cluster_dir"
  if running; then
    log "already running (PIDs in $pids_file)"
  else
    [[ -f $pids_file || -f $network_file ]] && down
    : >"$pids_file"
    printf 'api-only\n' >"$cluster_dir/mode"
    start_control_plane 127.0.0.1
  fi
  printf 'KUBECTL=%s\n' "$(kubectl_bin)"
  printf 'KUBECONFIG=%s\n' "$kubeconfig"
}

# --- the node ---------------------------------------------------------------------------------

ctr_dir="$cluster_dir/containerd"
ctr_sock="$ctr_dir/containerd.sock"
# images survive `down`, so a warm `up` imports only what changed
ctr_root="$k8s_cache/containerd-root"
volumes_dir="$k8s_cache/volumes"
ctr() { command ctr -a "$ctr_sock" -n k8s.io "$@"; }

# route_safe ADDRESS WANT: WANT is "bridge" (on the node's bridge) or "blackhole"; never a gateway
route_safe() {
  local out
  out=$(ip route get "$1" 2>&1) || true
  [[ $out == *" via "* ]] && return 1
  case $2 in
  bridge) [[ $out == *"dev $BRIDGE "* ]] ;;
  # `ip route get` refuses to resolve a blackholed address
  blackhole) [[ $out == *"Invalid argument"* || $out == blackhole* ]] ;;
  esac
}

check_routes() {
  route_safe "$PROBE_POD_IP" bridge ||
    die "network safety: 'ip route get $PROBE_POD_IP' does not name $BRIDGE ($(ip route get "$PROBE_POD_IP" 2>&1 | head -1))"
  route_safe 10.244.200.1 blackhole ||
    die "network safety: the pod range outside the node's subnet is not blackholed ($(ip route get 10.244.200.1 2>&1 | head -1))"
  route_safe "$PROBE_SERVICE_IP" blackhole ||
    die "network safety: the service range is not blackholed ($(ip route get "$PROBE_SERVICE_IP" 2>&1 | head -1))"
}

# Every change to the host is written to $network_file first, so `down` undoes exactly what was done.
network_up() {
  [[ ${EUID:-$(id -u)} == 0 ]] || die "a node needs root (bridge, routes, containerd); use 'up --api-only' otherwise"
  local c
  for c in ip iptables containerd runc ctr; do command -v "$c" >/dev/null || die "$c not found (apt-get install containerd runc iptables containernetworking-plugins)"; done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || die "CNI plugins not found in /usr/lib/cni (apt-get install containernetworking-plugins)"
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "$BRIDGE exists but this cluster did not create it"
  local cidr
  for cidr in "$POD_CIDR" "$NODE_POD_SUBNET" "$SERVICE_CIDR"; do
    [[ -z $(ip route show exact "$cidr") ]] || die "a route for $cidr exists already: $(ip route show exact "$cidr")"
  done
  iptables -w -S "$GUARD_CHAIN" >/dev/null 2>&1 && die "iptables chain $GUARD_CHAIN exists but this cluster did not create it"
  [[ -z $(ip -4 addr show to "$POD_CIDR") ]] || die "an address in $POD_CIDR is in use: $(ip -4 addr show to "$POD_CIDR")"
  printf 'route %s\n' "$POD_CIDR" >>"$network_file"
  ip route replace blackhole "$POD_CIDR"
  printf 'route %s\n' "$SERVICE_CIDR" >>"$network_file"
  ip route replace blackhole "$SERVICE_CIDR"
  # A second guard, and the proof: a packet to either range that would leave by any interface but
  # the bridge (or loopback, for the bridge's own address) is dropped and counted here.
  printf 'chain %s\n' "$GUARD_CHAIN" >>"$network_file"
  iptables -w -N "$GUARD_CHAIN"
  iptables -w -A "$GUARD_CHAIN" -o "$BRIDGE" -j RETURN
  iptables -w -A "$GUARD_CHAIN" -o lo -j RETURN
  iptables -w -A "$GUARD_CHAIN" -j DROP
  local chain
  for chain in OUTPUT FORWARD; do
    for cidr in "$POD_CIDR" "$SERVICE_CIDR"; do
      printf 'iptables %s -d %s -j %s\n' "$chain" "$cidr" "$GUARD_CHAIN" >>"$network_file"
      iptables -w -I "$chain" 1 -d "$cidr" -j "$GUARD_CHAIN"
    done
  done
  printf 'link %s\n' "$BRIDGE" >>"$network_file"
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_IP/${NODE_POD_SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Pods talk to each other on the bridge (Docker's FORWARD policy is DROP, and bridged packets
  # pass through it); nothing from the bridge is forwarded anywhere else.
  printf 'iptables FORWARD -i %s ! -o %s -j DROP\n' "$BRIDGE" "$BRIDGE" >>"$network_file"
  iptables -w -I FORWARD 1 -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  printf 'iptables FORWARD -i %s -o %s -j ACCEPT\n' "$BRIDGE" "$BRIDGE" >>"$network_file"
  iptables -w -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  check_routes
  log "network: blackhole $POD_CIDR and $SERVICE_CIDR, $BRIDGE $BRIDGE_IP/${NODE_POD_SUBNET#*/}"
}

# The chains the kubelet creates in every table of both families, with the jumps to them.
remove_kubelet_chains() {
  local tool table chain
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle; do
      for chain in INPUT OUTPUT; do
        while "$tool" -w -t "$table" -C "$chain" -j KUBE-FIREWALL 2>/dev/null; do
          "$tool" -w -t "$table" -D "$chain" -j KUBE-FIREWALL
        done
      done
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        if "$tool" -w -t "$table" -S "$chain" >/dev/null 2>&1; then
          "$tool" -w -t "$table" -F "$chain" && "$tool" -w -t "$table" -X "$chain" 2>/dev/null || true
        fi
      done
    done
  done
}

network_down() {
  [[ -f $network_file ]] || return 0
  local what rest
  while read -r what rest; do
    case $what in
    route) ip route del blackhole "$rest" 2>/dev/null || true ;;
    link) ip link del "$rest" 2>/dev/null || true ;;
    kubelet-chains) remove_kubelet_chains ;;
    chain) iptables -w -F "$rest" 2>/dev/null && iptables -w -X "$rest" 2>/dev/null || true ;;
    dir) [[ $rest == /var/lib/* ]] && rm -rf "$rest" ;;
    # kube-proxy's own rules (KUBE-SERVICES, KUBE-POSTROUTING, ...)
    kube-proxy) "$(bin_path kube-proxy "$KUBERNETES_VERSION")" --cleanup >/dev/null 2>&1 || true ;;
    # shellcheck disable=SC2086 # the recorded rule, word by word
    iptables) while iptables -w -C $rest 2>/dev/null; do iptables -w -D $rest; done ;;
    esac
  done < <(tac "$network_file")
  rm -f "$network_file"
}

pause_image_dir() { printf '%s/images/pause\n' "$k8s_cache"; }

# The sandbox image: a static C program that sleeps until signalled and reaps orphans.
build_local_images() {
  local dir
  dir=$(pause_image_dir)
  if ! docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
    mkdir -p "$dir"
    cat >"$dir/pause.c" <<'EOF'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
EOF
    gcc -static -Os -o "$dir/pause" "$dir/pause.c" || die "gcc -static failed for the pause image"
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$dir/Dockerfile"
    docker build -q -t "$PAUSE_IMAGE" "$dir" >&2 || die "docker build of $PAUSE_IMAGE failed"
  fi
  if ! docker image inspect "$CONFIG_RELOADER_IMAGE" >/dev/null 2>&1; then
    local ctx
    ctx=$(new_work)
    cp "$(bin_path prometheus-config-reloader "$PROMETHEUS_OPERATOR_RUN_VERSION")" "$ctx/"
    printf 'FROM scratch\nCOPY prometheus-config-reloader /bin/prometheus-config-reloader\nUSER 65534:65534\nENTRYPOINT ["/bin/prometheus-config-reloader"]\n' >"$ctx/Dockerfile"
    docker build -q -t "$CONFIG_RELOADER_IMAGE" "$ctx" >&2 || die "docker build of $CONFIG_RELOADER_IMAGE failed"
    rm -rf "$ctx"
  fi
}

# Docker's images of this project (scripts/build-images.sh) into the node's containerd, the ones
# it does not have yet.
import_images() {
  local have want=() image
  have=$(ctr images ls -q)
  while read -r image; do
    grep -qxF "docker.io/$image" <<<"$have" || want+=("$image")
  done < <(docker images --format '{{.Repository}}:{{.Tag}}' 'otelkit-local/*' | grep -v ':<none>$')
  [[ ${#want[@]} == 0 ]] && return 0
  log "importing ${#want[@]} image(s) into the node: ${want[*]}"
  docker save "${want[@]}" | ctr images import --all-platforms - >/dev/null || die "importing the local images failed"
}

start_containerd() {
  rm -rf "$ctr_dir"
  mkdir -p "$ctr_dir" "$ctr_root" "$cluster_dir/cni/net.d"
  cat >"$cluster_dir/cni/net.d/10-otelkit.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "otelkit",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$cluster_dir/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_POD_SUBNET", "gateway": "$BRIDGE_IP" }]],
        "routes": [{ "dst": "$SERVICE_CIDR" }]
      }
    }
  ]
}
EOF
  # cgroup v1 with cgroupfs on these machines; restrict_oom_score_adj, or runc fails with "can't get
  # final child's PID from pipe"
  cat >"$ctr_dir/config.toml" <<EOF
version = 2
root = "$ctr_root"
state = "$ctr_dir/state"
[grpc]
  address = "$ctr_sock"
[ttrpc]
  address = "$ctr_dir/ttrpc.sock"
[debug]
  address = "$ctr_dir/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctr_dir/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$ctr_dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$cluster_dir/cni/net.d"
EOF
  start containerd "$cluster_dir/containerd.log" containerd --config "$ctr_dir/config.toml"
  wait_for 30 ctr version || fail_up "$cluster_dir/containerd.log" "containerd did not start"
  import_images
}

start_kubelet() {
  local dir="$cluster_dir/kubelet"
  mkdir -p "$dir"
  cat >"$cluster_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# cgroup v1 on these machines
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$ctr_sock
# the kubelet listens on loopback only, where the API server reaches it for logs and port-forward
authentication:
  anonymous: { enabled: true }
  webhook: { enabled: false }
authorization: { mode: AlwaysAllow }
clusterDomain: cluster.local
clusterDNS: [$BRIDGE_IP]
resolvConf: $cluster_dir/resolv.conf
# a shared test machine: no eviction for its disk or memory, no image garbage collection
evictionHard: { memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 60
serializeImagePulls: false
podLogsDir: $cluster_dir/pod-logs
EOF
  # pods with dnsPolicy Default get no resolver outside the cluster
  : >"$cluster_dir/resolv.conf"
  # the kubelet adds chains of its own (KUBE-FIREWALL and canaries) that `down` takes out again,
  # and the kubelet and CNI keep a socket and a cache in fixed places: removed if `up` made them
  printf 'kubelet-chains\n' >>"$network_file"
  local fixed
  for fixed in /var/lib/kubelet /var/lib/cni; do
    [[ -e $fixed ]] || printf 'dir %s\n' "$fixed" >>"$network_file"
  done
  start kubelet "$cluster_dir/kubelet.log" "$(bin_path kubelet "$KUBERNETES_VERSION")" \
    --config="$cluster_dir/kubelet.yaml" --kubeconfig="$kubeconfig" --root-dir="$dir" \
    --cert-dir="$dir/pki" --hostname-override="$NODE_NAME" --node-ip="$BRIDGE_IP"
  wait_for 120 node_ready || fail_up "$cluster_dir/kubelet.log" "the node did not become Ready"
  log "node $NODE_NAME Ready"
}

node_ready() {
  [[ $(k get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

start_control_loops() {
  start kube-scheduler "$cluster_dir/kube-scheduler.log" "$(bin_path kube-scheduler "$KUBERNETES_VERSION")" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
  # nodeipam off: the node's pod subnet is the bridge's, set in the CNI config; the host-path
  # volumes are this script's own (see provision)
  start kube-controller-manager "$cluster_dir/kube-controller-manager.log" \
    "$(bin_path kube-controller-manager "$KUBERNETES_VERSION")" \
    --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false --controllers='*,-nodeipam' \
    --service-account-private-key-file="$cluster_dir/pki/sa.key" --root-ca-file="$cluster_dir/pki/ca.crt" \
    --use-service-account-credentials=true --cluster-cidr="$POD_CIDR" --service-cluster-ip-range="$SERVICE_CIDR"
  cat >"$cluster_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $kubeconfig }
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# no NodePort on any address but the bridge's, none on loopback (that needs route_localnet)
nodePortAddresses: ["$BRIDGE_IP/32"]
iptables: { localhostNodePorts: false }
# leave the machine's conntrack settings alone
conntrack: { maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
  printf 'kube-proxy\n' >>"$network_file"
  start kube-proxy "$cluster_dir/kube-proxy.log" "$(bin_path kube-proxy "$KUBERNETES_VERSION")" \
    --config="$cluster_dir/kube-proxy.yaml"
  cat >"$cluster_dir/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
  bind $BRIDGE_IP
  ready 127.0.0.1:18181
  errors
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $kubeconfig otelkit-local
    pods insecure
  }
}
.:53 {
  bind $BRIDGE_IP
  errors
}
EOF
  start coredns "$cluster_dir/coredns.log" "$(bin_path coredns "$COREDNS_VERSION")" -conf "$cluster_dir/Corefile"
  wait_for 30 curl -fsS http://127.0.0.1:18181/ready || fail_up "$cluster_dir/coredns.log" "CoreDNS did not become ready"
}

# Volumes for claims of the default storage class: a local PersistentVolume per claim in a
# directory of its own, removed with the claim (the job of a provisioner; none runs without an
# image registry). Local volumes get the pods' fsGroup, as a cloud disk would.
provision() {
  local ns name uid class size pv
  while :; do
    while read -r ns name uid class size; do
      [[ $class == "$STORAGE_CLASS" && -n $uid ]] || continue
      mkdir -p "$volumes_dir/pvc-$uid"
      k apply -f - >/dev/null <<EOF || true
apiVersion: v1
kind: PersistentVolume
metadata: { name: pvc-$uid, labels: { otelkit.io/local-volume: "true" } }
spec:
  capacity: { storage: $size }
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $STORAGE_CLASS
  claimRef: { namespace: $ns, name: $name, uid: $uid }
  local: { path: $volumes_dir/pvc-$uid }
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{ key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME] }]
EOF
    done < <(k get pvc -A -o jsonpath='{range .items[?(@.status.phase=="Pending")]}{.metadata.namespace} {.metadata.name} {.metadata.uid} {.spec.storageClassName} {.spec.resources.requests.storage}{"\n"}{end}' 2>/dev/null)
    while read -r pv; do
      [[ -n $pv ]] || continue
      k delete pv "$pv" --wait=false >/dev/null 2>&1 && rm -rf "${volumes_dir:?}/$pv"
    done < <(k get pv -l otelkit.io/local-volume=true -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}' 2>/dev/null)
    sleep 2
  done
}

start_storage() {
  mkdir -p "$volumes_dir"
  k apply -f - >&2 <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
EOF
  start provisioner "$cluster_dir/provisioner.log" "$0" _provision "$cluster_dir"
}

# Both operators outside the cluster against the kubeconfig, webhooks off (their certificates
# would come from cert-manager, which does not run here).
start_operators() {
  # both read $KUBECONFIG (which also marks them as ours: `ours` reads the environment too)
  start opentelemetry-operator "$cluster_dir/opentelemetry-operator.log" \
    env KUBECONFIG="$kubeconfig" ENABLE_WEBHOOKS=false \
    "$(bin_path opentelemetry-operator "$OTEL_OPERATOR_VERSION")" \
    --enable-webhooks=false --metrics-addr=127.0.0.1:18082 --health-probe-addr=127.0.0.1:18083 \
    --enable-leader-election=false
  start prometheus-operator "$cluster_dir/prometheus-operator.log" env KUBECONFIG="$kubeconfig" \
    "$(bin_path prometheus-operator "$PROMETHEUS_OPERATOR_RUN_VERSION")" \
    --web.listen-address=127.0.0.1:18084 --prometheus-config-reloader="$CONFIG_RELOADER_IMAGE"
  wait_for 60 curl -fsS http://127.0.0.1:18083/readyz ||
    fail_up "$cluster_dir/opentelemetry-operator.log" "the OpenTelemetry Operator did not become ready"
  wait_for 60 curl -fsS http://127.0.0.1:18084/healthz ||
    fail_up "$cluster_dir/prometheus-operator.log" "the Prometheus Operator did not become ready"
  log "operators running: OpenTelemetry Operator $OTEL_OPERATOR_VERSION, Prometheus Operator $PROMETHEUS_OPERATOR_RUN_VERSION"
}

up_node() {
  build_node
  build_local_images
  mkdir -p "$cluster_dir"
  if running && [[ $(cat "$cluster_dir/mode" 2>/dev/null) == node ]]; then
    log "already running (PIDs in $pids_file)"
    check_routes
    import_images
  else
    [[ -f $pids_file || -f $network_file ]] && down
    : >"$pids_file"
    printf 'node\n' >"$cluster_dir/mode"
    local started=$SECONDS
    # the network before anything that can send to a pod or service address
    network_up
    start_control_plane "$BRIDGE_IP"
    start_containerd
    start_kubelet
    check_routes
    start_control_loops
    start_storage
    start_operators
    log "cluster up in $((SECONDS - started)) s"
  fi
  printf 'KUBECTL=%s\n' "$(kubectl_bin)"
  printf 'KUBECONFIG=%s\n' "$kubeconfig"
}

stop_recorded() { # stop_recorded NAME...: the recorded processes of those names, or all
  [[ -f $pids_file ]] || return 0
  local name pid pids=() want=" $* "
  while read -r name pid; do
    [[ $# == 0 || $want == *" $name "* ]] || continue
    if ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      log "stopping $name ($pid)"
    fi
  done < <(tac "$pids_file")
  local i alive
  for ((i = 0; i < 75; i++)); do
    alive=0
    for pid in "${pids[@]}"; do ours "$pid" && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi; done
}

# Pods are the kubelet's to stop (it tears down their network through CNI); what is left after it
# is removed through containerd, then mounts and network namespaces of this node only.
stop_node() {
  if [[ -S $ctr_sock ]] && k get --raw /readyz >/dev/null 2>&1; then
    stop_recorded opentelemetry-operator prometheus-operator provisioner kube-controller-manager kube-scheduler
    k delete pods -A --all --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < 60; i++)); do
      [[ -z $(ctr tasks ls -q 2>/dev/null) ]] && break
      sleep 0.5
    done
  fi
  stop_recorded kubelet kube-proxy coredns
  if [[ -S $ctr_sock ]]; then
    local task c
    for task in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
    sleep 0.5
    for task in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$task" >/dev/null 2>&1 || true; done
    for c in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop_recorded containerd
  # shims outlive containerd; theirs name its socket
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $ctr_sock" || true); do
    ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(findmnt -rn -o TARGET | grep -F "$cluster_dir/" | sort -r)
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(findmnt -rn -o TARGET | grep -F "$ctr_root/" | sort -r)
  # the CRI's sandbox network namespaces live in the shared /var/run/netns: only those holding a
  # pod address of this node's subnet are ours
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
    if ip netns exec "$ns" ip -4 -o addr show 2>/dev/null | grep -q " ${NODE_POD_SUBNET%.*}\."; then
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  # the kubelet's pod cgroups (cgroup v1: one tree per controller)
  local d
  for d in /sys/fs/cgroup/*/kubepods; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$ctr_dir" "$cluster_dir/kubelet"
}

down() {
  if [[ ! -f $pids_file && ! -f $network_file ]]; then
    log "not running"
    return 0
  fi
  [[ $(cat "$cluster_dir/mode" 2>/dev/null) == node ]] && stop_node
  stop_recorded
  network_down
  rm -f "$pids_file" "$cluster_dir/mode"
}

cmd=${1:-}
case $cmd in
build)
  build_node
  ;;
up)
  mkdir -p "$k8s_cache"
  case ${2:-} in
  --api-only) with_lock cluster up_api_only ;;
  "") with_lock cluster up_node ;;
  *) usage ;;
  esac
  ;;
down)
  mkdir -p "$k8s_cache"
  with_lock cluster down
  ;;
_provision) # started by `up`: $2 is the cluster directory, so `down` recognises the process
  provision
  ;;
*) usage ;;
esac
