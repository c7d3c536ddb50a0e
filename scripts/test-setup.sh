#!/usr/bin/env bash
# test-setup.sh: installs and starts what the test suite needs, then returns; `npm test` runs it
# first, so the README's test command works on a fresh clone of a machine of this project's kind
# (Debian, root, Go, Node with npm, Docker's engine from Debian, package registries only). Each step
# is skipped when it is already done, so a warm run takes seconds. Without root, it says what to
# install instead of installing it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "test-setup: a Go toolchain (>= 1.24) is required: the real-tool tests build the Collector and the backends from their Go modules" >&2
  exit 1
fi

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-setup: missing Debian packages; as root run: apt-get install $*" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The end-to-end tests run the generated compose stack on a local Docker engine, with images
# built here from Go modules (no image registry is reachable): Debian's engine, compose 1.29, and
# a static busybox and the CA bundle for images that behave like the upstream ones.
# The preload's library tests run real PostgreSQL, MariaDB and Redis servers (started by the
# tests on loopback ports) from Debian's packages. The Kubernetes node runs on Debian's containerd,
# runc, CNI plugins and iptables (a private containerd, never Docker's).
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 || [[ ! -x /bin/busybox ]] ||
  [[ ! -f /etc/ssl/certs/ca-certificates.crt ]] ||
  ! command -v redis-server >/dev/null 2>&1 || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null ||
  [[ ! -x /usr/sbin/mariadbd ]] || ! command -v containerd >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 ||
  [[ ! -x /usr/lib/cni/bridge ]] || ! command -v iptables >/dev/null 2>&1; then
  apt_install docker.io docker-compose busybox-static ca-certificates \
    postgresql redis-server mariadb-server containerd runc containernetworking-plugins iptables
fi
# Network safety: no packet to a container address may leave the machine. Every address the engine
# hands out (its bridge and the compose networks' pool) lies in 172.16.0.0/12, which is blackholed
# before the engine starts; each bridge's own, more specific route then wins for its addresses and
# any other address in the range is dropped here instead of taking the default route.
DOCKER_BLACKHOLE=172.16.0.0/12
DOCKER_BRIDGE_IP=172.17.0.1/16
DOCKER_POOL=172.18.0.0/16
docker_network_safe() {
  [[ $(ip route get 172.31.255.1 2>&1) == *"Invalid argument"* ]] || {
    echo "test-setup: network safety: $DOCKER_BLACKHOLE is not blackholed ($(ip route get 172.31.255.1 2>&1 | head -1))" >&2
    return 1
  }
  [[ $(ip route get "${DOCKER_BRIDGE_IP%.*}.9" 2>&1) == *" dev docker0 "* ]] || {
    echo "test-setup: network safety: the engine's bridge is not on ${DOCKER_BRIDGE_IP} ($(ip route get "${DOCKER_BRIDGE_IP%.*}.9" 2>&1 | head -1)); start dockerd with --bip=$DOCKER_BRIDGE_IP --default-address-pool base=$DOCKER_POOL,size=24" >&2
    return 1
  }
}
if ! docker info >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || { echo "test-setup: a Docker engine is required (as root: dockerd --bip=$DOCKER_BRIDGE_IP --default-address-pool base=$DOCKER_POOL,size=24)" >&2; exit 1; }
  ip route replace blackhole "$DOCKER_BLACKHOLE"
  (dockerd --bip="$DOCKER_BRIDGE_IP" --default-address-pool "base=$DOCKER_POOL,size=24" >/tmp/otelkit-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "test-setup: dockerd did not start" >&2; tail -20 /tmp/otelkit-dockerd.log >&2; exit 1; }
fi
docker_network_safe || exit 1
# A run killed part-way (a timeout, the machine stopping) can leave a verify stack of this project's
# tests running under its restart policy, holding the ports the next stack test needs.
leftovers=$(docker ps -aq --filter name=otelkit-verify-)
if [[ -n $leftovers ]]; then
  echo "test-setup: removing verify stacks left by an earlier run: $(docker ps -a --filter name=otelkit-verify- --format '{{.Names}}' | tr '\n' ' ')"
  docker rm -f -v $leftovers >/dev/null
fi
leftover_networks=$(docker network ls -q --filter name=otelkit-verify-)
[[ -z $leftover_networks ]] || docker network rm $leftover_networks >/dev/null

# Local images of the stack's backends for the end-to-end tests (cached by version; the tests call
# the same script, which is then a no-op).
scripts/build-images.sh stacks/collector/builder-config.yaml

# The Python bootstrap's tests run real FastAPI/uvicorn and Flask apps under the OpenTelemetry agent,
# from a venv of pinned packages (PyPI), cached by the requirements' hash; Python >= 3.11 is required.
test/e2e/runtime/python/venv.sh >/dev/null

# The Kubernetes tests validate k8s/ against a real kube-apiserver with both operators' CRDs and
# run it on a real single-node cluster (kubelet on Debian's containerd, both operators), built from
# the Go module proxy and cached by version (cold ~25 min on 2 cores, warm a no-op).
scripts/local-cluster.sh build

