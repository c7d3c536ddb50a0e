import { gatewayCollectorNames } from '../alerting/scrape-jobs.ts';
import { DOCKER_HOST, ENDPOINTS, collectorGoMemLimit } from '../model/conventions.ts';
import type { Model } from '../model/model.ts';
import { formatDuration } from '../model/duration.ts';
import { UPSTREAM_IMAGES, upstreamTag, type Component } from '../model/versions.ts';
import type { Artifact, Target } from './artifact.ts';
import { LOOPBACK, httpUrl, port } from '../model/topology.ts';

/**
 * The local stack. Images are the upstream ones at the pinned versions unless OTELKIT_<NAME>_IMAGE
 * overrides them (the test harness points them at locally built images that behave the same). Every
 * port binds to 127.0.0.1; configs are mounted read-only from the generated tree; named volumes keep
 * data and the Collector's queue across restarts. No top-level `name:`, which docker-compose 1.29
 * rejects.
 */

function imageVariable(component: Component): string {
  return `OTELKIT_${component.toUpperCase()}_IMAGE`;
}

function image(model: Model, component: Component): string {
  const tag = upstreamTag(component, model.versions[component]);
  return `\${${imageVariable(component)}:-${UPSTREAM_IMAGES[component]}:${tag}}`;
}

const localPort = (published: number, inside = published) => `${LOOPBACK}:${published}:${inside}`;

/**
 * How the upstream images at the pinned versions are built, as far as the compose file depends on it
 * (their Dockerfiles; scripts/images/ builds local images the same way):
 * - otel/opentelemetry-collector-contrib: FROM scratch, uid 10001:10001, nothing but the binary and
 *   CA certificates, so no shell and no HTTP client for a healthcheck, and a volume mounted where the
 *   image has no directory is created root-owned.
 * - prom/prometheus, prom/alertmanager: busybox base, user nobody, /prometheus and /alertmanager
 *   owned by it; promtool and amtool sit next to the servers.
 * - grafana/loki 3.7: distroless static:nonroot (no shell, no busybox), uid 10001, /loki owned by
 *   it; the binary checks readiness itself with `-health`.
 * - grafana/tempo 2.8: distroless static:debug, uid 10001, /var/tempo owned by it; busybox only
 *   under /busybox, so there is no /bin/sh for a CMD-SHELL healthcheck.
 * - grafana/grafana: Alpine, uid 472, /var/lib/grafana writable by it.
 * Named volumes mounted on an image directory start as a copy of it, owner included; that covers
 * every data volume but the Collector queues.
 */
export const COLLECTOR_USER = '10001:10001';

/** Healthchecks run in exec form with a program the image itself ships. */
function health(test: string[]) {
  return { test: ['CMD', ...test], interval: '5s', timeout: '3s', retries: 30, start_period: '5s' };
}

const HEALTHCHECKS = {
  prometheus: health([
    '/bin/promtool',
    'check',
    'ready',
    `--url=${httpUrl('prometheus', { host: LOOPBACK })}`,
  ]),
  alertmanager: health([
    '/bin/amtool',
    `--alertmanager.url=${httpUrl('alertmanager', { host: LOOPBACK })}`,
    'cluster',
    'show',
  ]),
  loki: health(['/usr/bin/loki', '-health', `-health.url=${httpUrl('loki', { host: LOOPBACK })}/ready`]),
  tempo: health(['/busybox/wget', '-q', '-O', '/dev/null', `${httpUrl('tempo', { host: LOOPBACK })}/ready`]),
};

const healthy = { condition: 'service_healthy' };
/** The Collector image has nothing to run a healthcheck with, so dependants only wait for its start. */
const started = { condition: 'service_started' };
const completed = { condition: 'service_completed_successfully' };

/**
 * Docker's name for the host. Engines on Linux resolve it only with this mapping (Docker Desktop
 * always does); Prometheus scrapes app endpoints there and Alertmanager may send webhooks there.
 */
const HOST_GATEWAY = [`${DOCKER_HOST}:host-gateway`];

const QUEUE_INIT = 'otelcol-queue-init';

export function composeFile(model: Model) {
  const memoryLimit = model.collector.memoryLimitMib;
  const queue = model.collector.persistentQueue;
  // Prometheus scrapes each gateway by this name (alerting/scrape-jobs.ts)
  const gatewayNames = gatewayCollectorNames(model);
  const queueVolume = (service: string) => `${service.replace('otel-collector', 'otelcol')}-queue`;
  const queueVolumes = queue.enabled ? ['otel-collector', ...gatewayNames].map(queueVolume) : [];
  const queueMount = (service: string) =>
    queue.enabled ? [`${queueVolume(service)}:${queue.directory}`] : [];
  const backends = { prometheus: healthy, loki: healthy, tempo: healthy };
  const queueReady = queue.enabled ? { [QUEUE_INIT]: completed } : {};
  const collector = (service: string, config: string) => ({
    image: image(model, 'collector'),
    command: [`--config=/etc/otelcol/${config}`],
    volumes: [`../stacks/collector/${config}:/etc/otelcol/${config}:ro`, ...queueMount(service)],
    environment: { GOMEMLIMIT: collectorGoMemLimit(memoryLimit) },
    mem_limit: `${memoryLimit}m`,
  });
  const gateways = Object.fromEntries(
    gatewayNames.map((name) => [
      name,
      {
        ...collector(name, 'gateway.yaml'),
        // one DNS name for all gateways: the agents' load-balancing exporter resolves every replica
        networks: { default: { aliases: [ENDPOINTS.gatewayHost] } },
        depends_on: { ...queueReady, ...backends },
        restart: 'unless-stopped',
      },
    ]),
  );
  // Docker creates a volume root-owned where the image has no directory; the Collector runs as
  // COLLECTOR_USER and could not write its queue. The Prometheus image has a chown.
  const queueInit = queue.enabled
    ? {
        [QUEUE_INIT]: {
          image: image(model, 'prometheus'),
          user: '0:0',
          entrypoint: ['chown', '-R', COLLECTOR_USER, ...queueVolumes.map((v) => `/queues/${v}`)],
          volumes: queueVolumes.map((v) => `${v}:/queues/${v}`),
          restart: 'no',
        },
      }
    : {};
  return {
    services: {
      ...queueInit,
      ...gateways,
      'otel-collector': {
        ...collector('otel-collector', 'config.yaml'),
        ports: [
          localPort(port('collector', 'otlpGrpc')),
          localPort(port('collector', 'otlpHttp')),
          localPort(port('collector', 'health')),
          localPort(port('collector', 'metrics')),
        ],
        depends_on: gatewayNames.length
          ? { ...queueReady, ...Object.fromEntries(gatewayNames.map((name) => [name, started])) }
          : { ...queueReady, ...backends },
        restart: 'unless-stopped',
      },
      prometheus: {
        image: image(model, 'prometheus'),
        // no --web.enable-lifecycle: /-/reload and /-/quit would be open to every container on the
        // network; `kill -s HUP` reloads the config and rules just the same
        command: [
          '--config.file=/etc/prometheus/prometheus.yml',
          '--storage.tsdb.path=/prometheus',
          `--storage.tsdb.retention.time=${formatDuration(model.signals.metrics.retentionMs)}`,
          '--web.enable-otlp-receiver',
          '--web.enable-remote-write-receiver',
          '--enable-feature=exemplar-storage',
        ],
        // rule_files in prometheus.yml are ../../alerts/*.rules.yml, i.e. /alerts here
        volumes: [
          '../stacks/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
          '../alerts:/alerts:ro',
          'prometheus-data:/prometheus',
        ],
        ports: [localPort(port('prometheus', 'http'))],
        extra_hosts: HOST_GATEWAY,
        healthcheck: HEALTHCHECKS.prometheus,
        restart: 'unless-stopped',
      },
      alertmanager: {
        image: image(model, 'alertmanager'),
        command: [
          '--config.file=/etc/alertmanager/alertmanager.yml',
          '--storage.path=/alertmanager',
          '--cluster.listen-address=',
        ],
        volumes: [
          '../stacks/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro',
          '${OTELKIT_ALERTMANAGER_SECRETS:-./secrets}:/etc/alertmanager/secrets:ro',
          'alertmanager-data:/alertmanager',
        ],
        ports: [localPort(port('alertmanager', 'http'))],
        extra_hosts: HOST_GATEWAY,
        healthcheck: HEALTHCHECKS.alertmanager,
        restart: 'unless-stopped',
      },
      loki: {
        image: image(model, 'loki'),
        command: ['-config.file=/etc/loki/loki.yaml'],
        volumes: ['../stacks/loki/loki.yaml:/etc/loki/loki.yaml:ro', 'loki-data:/loki'],
        ports: [localPort(port('loki', 'http'))],
        healthcheck: HEALTHCHECKS.loki,
        restart: 'unless-stopped',
      },
      tempo: {
        image: image(model, 'tempo'),
        command: ['-config.file=/etc/tempo/tempo.yaml'],
        volumes: ['../stacks/tempo/tempo.yaml:/etc/tempo/tempo.yaml:ro', 'tempo-data:/var/tempo'],
        ports: [localPort(port('tempo', 'http'))],
        healthcheck: HEALTHCHECKS.tempo,
        depends_on: { prometheus: healthy },
        restart: 'unless-stopped',
      },
      grafana: {
        image: image(model, 'grafana'),
        environment: {
          GF_AUTH_ANONYMOUS_ENABLED: 'true',
          GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
          GF_ANALYTICS_REPORTING_ENABLED: 'false',
          GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
          GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: 'false',
          GF_NEWS_NEWS_FEED_ENABLED: 'false',
        },
        volumes: [
          '../grafana/provisioning:/etc/grafana/provisioning:ro',
          '../grafana/dashboards:/var/lib/grafana/dashboards:ro',
          'grafana-data:/var/lib/grafana',
        ],
        ports: [localPort(port('grafana', 'http'))],
        depends_on: { ...backends, alertmanager: healthy },
        restart: 'unless-stopped',
      },
    },
    volumes: {
      ...Object.fromEntries(queueVolumes.map((v) => [v, {}])),
      'prometheus-data': {},
      'alertmanager-data': {},
      'loki-data': {},
      'tempo-data': {},
      'grafana-data': {},
    },
  };
}

export const composeTarget: Target = {
  name: 'compose',
  description: 'docker compose file for the local stack',
  generate: (model: Model): Artifact[] => [
    { path: 'compose/docker-compose.yml', format: 'yaml', content: composeFile(model) },
  ],
};
