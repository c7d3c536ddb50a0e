import { ENDPOINTS } from '../conventions.ts';
import type { Model } from '../model.ts';
import { formatDuration } from '../spec/duration.ts';
import { UPSTREAM_IMAGES, type Component } from '../versions.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * The local stack. Images are the upstream ones at the pinned versions unless OTELKIT_<NAME>_IMAGE
 * overrides them (the test harness points them at locally built images). Every port binds to
 * 127.0.0.1; configs are mounted read-only from the generated tree; named volumes keep data and
 * the Collector's queue across restarts. No top-level `name:`, which docker-compose 1.29 rejects.
 */

const TAG_PREFIX: Partial<Record<Component, string>> = { prometheus: 'v', alertmanager: 'v' };

function imageVariable(component: Component): string {
  return `OTELKIT_${component.toUpperCase()}_IMAGE`;
}

function image(model: Model, component: Component): string {
  const tag = `${TAG_PREFIX[component] ?? ''}${model.versions[component]}`;
  return `\${${imageVariable(component)}:-${UPSTREAM_IMAGES[component]}:${tag}}`;
}

const localPort = (port: number, inside = port) => `127.0.0.1:${port}:${inside}`;

function httpHealth(url: string) {
  return {
    test: ['CMD-SHELL', `wget -q -O /dev/null ${url} || exit 1`],
    interval: '5s',
    timeout: '3s',
    retries: 30,
    start_period: '5s',
  };
}

const healthy = { condition: 'service_healthy' };

export function composeFile(model: Model) {
  const memoryLimit = model.collector.memoryLimitMib;
  const collectorVolumes = ['../stacks/collector/config.yaml:/etc/otelcol/config.yaml:ro'];
  if (model.collector.persistentQueue.enabled) {
    collectorVolumes.push(`otelcol-queue:${model.collector.persistentQueue.directory}`);
  }
  const gateways = Object.fromEntries(
    model.collector.mode === 'gateway'
      ? Array.from({ length: model.collector.gatewayReplicas }, (_, i) => [
          `otel-collector-gateway-${i + 1}`,
          {
            image: image(model, 'collector'),
            command: ['--config=/etc/otelcol/gateway.yaml'],
            volumes: [
              '../stacks/collector/gateway.yaml:/etc/otelcol/gateway.yaml:ro',
              ...(model.collector.persistentQueue.enabled
                ? [`otelcol-gateway-${i + 1}-queue:${model.collector.persistentQueue.directory}`]
                : []),
            ],
            environment: { GOMEMLIMIT: `${Math.floor(memoryLimit * 0.8)}MiB` },
            mem_limit: `${memoryLimit}m`,
            // one DNS name for all gateways: the agents' load-balancing exporter resolves every replica
            networks: { default: { aliases: [ENDPOINTS.gatewayHost] } },
            healthcheck: httpHealth(`http://127.0.0.1:${ENDPOINTS.collectorHealth}/`),
            depends_on: { prometheus: healthy, loki: healthy, tempo: healthy },
            restart: 'unless-stopped',
          },
        ])
      : [],
  );
  const gatewayNames = Object.keys(gateways);
  return {
    services: {
      ...gateways,
      'otel-collector': {
        image: image(model, 'collector'),
        command: ['--config=/etc/otelcol/config.yaml'],
        volumes: collectorVolumes,
        environment: { GOMEMLIMIT: `${Math.floor(memoryLimit * 0.8)}MiB` },
        mem_limit: `${memoryLimit}m`,
        ports: [
          localPort(ENDPOINTS.collectorOtlpGrpc),
          localPort(ENDPOINTS.collectorOtlpHttp),
          localPort(ENDPOINTS.collectorHealth),
          localPort(ENDPOINTS.collectorMetrics),
        ],
        healthcheck: httpHealth(`http://127.0.0.1:${ENDPOINTS.collectorHealth}/`),
        depends_on: gatewayNames.length
          ? Object.fromEntries(gatewayNames.map((name) => [name, healthy]))
          : { prometheus: healthy, loki: healthy, tempo: healthy },
        restart: 'unless-stopped',
      },
      prometheus: {
        image: image(model, 'prometheus'),
        command: [
          '--config.file=/etc/prometheus/prometheus.yml',
          '--storage.tsdb.path=/prometheus',
          `--storage.tsdb.retention.time=${formatDuration(model.signals.metrics.retentionMs)}`,
          '--web.enable-otlp-receiver',
          '--web.enable-remote-write-receiver',
          '--web.enable-lifecycle',
          '--enable-feature=exemplar-storage',
        ],
        // rule_files in prometheus.yml are ../../alerts/*.rules.yml, i.e. /alerts here
        volumes: [
          '../stacks/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
          '../alerts:/alerts:ro',
          'prometheus-data:/prometheus',
        ],
        ports: [localPort(9090)],
        healthcheck: httpHealth('http://127.0.0.1:9090/-/ready'),
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
        ports: [localPort(9093)],
        healthcheck: httpHealth('http://127.0.0.1:9093/-/ready'),
        restart: 'unless-stopped',
      },
      loki: {
        image: image(model, 'loki'),
        command: ['-config.file=/etc/loki/loki.yaml'],
        volumes: ['../stacks/loki/loki.yaml:/etc/loki/loki.yaml:ro', 'loki-data:/loki'],
        ports: [localPort(3100)],
        healthcheck: httpHealth('http://127.0.0.1:3100/ready'),
        restart: 'unless-stopped',
      },
      tempo: {
        image: image(model, 'tempo'),
        command: ['-config.file=/etc/tempo/tempo.yaml'],
        volumes: ['../stacks/tempo/tempo.yaml:/etc/tempo/tempo.yaml:ro', 'tempo-data:/var/tempo'],
        ports: [localPort(3200)],
        healthcheck: httpHealth('http://127.0.0.1:3200/ready'),
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
        ports: [localPort(3000)],
        depends_on: { prometheus: healthy, loki: healthy, tempo: healthy, alertmanager: healthy },
        restart: 'unless-stopped',
      },
    },
    volumes: {
      ...(model.collector.persistentQueue.enabled
        ? Object.fromEntries(
            [
              'otelcol-queue',
              ...gatewayNames.map((n) => `${n.replace('otel-collector-', 'otelcol-')}-queue`),
            ].map((v) => [v, {}]),
          )
        : {}),
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
