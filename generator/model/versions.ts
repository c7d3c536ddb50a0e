/**
 * The one place component versions are pinned. Targets read these to emit only what the pinned
 * version accepts; image names follow the upstream tags so compose files work with pulled images,
 * and the local build scripts produce images under the same names where no registry is reachable.
 */
export const PINNED = {
  collector: '0.159.0',
  prometheus: '3.15.0',
  alertmanager: '0.34.2',
  loki: '3.7.8',
  tempo: '2.8.0',
  grafana: '12.3.0',
} as const;

export type Component = keyof typeof PINNED;

/** Versions each target module is written against; an override must be one of these. */
export const SUPPORTED: Readonly<Record<Component, readonly string[]>> = {
  collector: ['0.159.0'],
  prometheus: ['3.15.0'],
  alertmanager: ['0.34.2'],
  loki: ['3.7.8'],
  tempo: ['2.8.0'],
  grafana: ['12.3.0'],
};

/** Stable (1.x) confmap providers ship on their own version line next to each Collector release. */
export const COLLECTOR_PROVIDER_VERSION: Readonly<Record<string, string>> = { [PINNED.collector]: '1.65.0' };

export const COLLECTOR_CONTRIB_MODULE = 'github.com/open-telemetry/opentelemetry-collector-contrib';
export const COLLECTOR_CORE_MODULE = 'go.opentelemetry.io/collector';

export const UPSTREAM_IMAGES: Readonly<Record<Component, string>> = {
  collector: 'otel/opentelemetry-collector-contrib',
  prometheus: 'prom/prometheus',
  alertmanager: 'prom/alertmanager',
  loki: 'grafana/loki',
  tempo: 'grafana/tempo',
  grafana: 'grafana/grafana',
};

/** Prometheus and Alertmanager tag their images with a leading "v"; the other projects do not. */
const TAG_PREFIX: Partial<Record<Component, string>> = { prometheus: 'v', alertmanager: 'v' };

/** The upstream image tag of a component version (compose, Kubernetes and operator `version:` fields). */
export function upstreamTag(component: Component, version: string): string {
  return `${TAG_PREFIX[component] ?? ''}${version}`;
}

/**
 * The backends' binaries as scripts/build-backends.sh builds them from their Go modules (it reads
 * this table through scripts/versions.ts), and the version each binary is cached and found under.
 * Tempo tags 2.x while its go.mod has no /v2, so Go reaches 2.x code only by pseudo-version, and
 * the newest one the proxy here serves is a main-branch commit after v2.8.0-rc.0: the configs are
 * written against 2.8.0 (PINNED) and checked with that build.
 */
export const BACKEND_BUILDS = {
  prometheus: {
    module: 'github.com/prometheus/prometheus',
    // Prometheus 3.x is published as Go module versions v0.3XX.Y
    moduleVersion: `v0.3${PINNED.prometheus.split('.')[1]}.${PINNED.prometheus.split('.')[2]}`,
    version: PINNED.prometheus,
  },
  alertmanager: {
    module: 'github.com/prometheus/alertmanager',
    moduleVersion: `v${PINNED.alertmanager}`,
    version: PINNED.alertmanager,
  },
  loki: { module: 'github.com/grafana/loki/v3', moduleVersion: `v${PINNED.loki}`, version: PINNED.loki },
  tempo: {
    module: 'github.com/grafana/tempo',
    moduleVersion: 'v1.5.1-0.20250529124718-87c2dc380cec',
    version: '2.8.0-rc.0-87c2dc380cec',
  },
} as const;

/** Each tool the build script makes, with the module build it comes from (promtool and amtool ship with their servers). */
export const BACKEND_TOOLS = {
  promtool: 'prometheus',
  prometheus: 'prometheus',
  amtool: 'alertmanager',
  alertmanager: 'alertmanager',
  loki: 'loki',
  tempo: 'tempo',
} as const satisfies Record<string, keyof typeof BACKEND_BUILDS>;

export type BackendTool = keyof typeof BACKEND_TOOLS;

/** The version a backend tool binary is built, cached and found under. */
export const toolVersion = (tool: BackendTool): string => BACKEND_BUILDS[BACKEND_TOOLS[tool]].version;

/**
 * The local test cluster's components (scripts/local-cluster.sh; ../shared/KUBERNETES.md says what
 * builds here). Only v0.85.0 of the Prometheus Operator's main module is served, so it runs that,
 * with the CRDs of the newer API module (a superset of what it reads).
 */
export const LOCAL_CLUSTER = {
  KUBERNETES_VERSION: 'v1.37.2',
  KUBERNETES_STAGING_VERSION: 'v0.37.2',
  ETCD_VERSION: 'v3.7.3',
  CONTROLLER_GEN_VERSION: 'v0.21.0',
  PROMETHEUS_OPERATOR_VERSION: 'v0.95.2',
  PROMETHEUS_OPERATOR_RUN_VERSION: 'v0.85.0',
  OTEL_OPERATOR_VERSION: 'v0.140.0',
  COREDNS_VERSION: 'v1.15.0',
} as const;

/** The backend builds and the local cluster as `NAME=value` shell lines, which the build scripts `eval`. */
export function shellVersionLines(): string {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  return [
    ...Object.entries(BACKEND_BUILDS).flatMap(([component, build]) => {
      const name = component.toUpperCase();
      return [
        `${name}_MODULE=${quote(build.module)}`,
        `${name}_MODULE_VERSION=${quote(build.moduleVersion)}`,
        `${name}_VERSION=${quote(build.version)}`,
      ];
    }),
    ...Object.entries(LOCAL_CLUSTER).map(([name, version]) => `${name}=${quote(version)}`),
  ].join('\n');
}

/** telemetrygen drives `npm run bench:collector` (the proxy here serves v0.161.0, not the Collector's own version). */
export const TELEMETRYGEN = {
  module: 'github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen',
  version: 'v0.161.0',
} as const;
