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
