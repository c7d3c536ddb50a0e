import { LOG_CLASS_ATTRIBUTE } from '../model/conventions.ts';
import type { LogClass, Model } from '../model/model.ts';
import { formatDuration } from '../model/duration.ts';
import type { Artifact, Target } from './artifact.ts';
import { port } from '../model/topology.ts';

/**
 * Loki 3 single binary on the filesystem, taking OTLP logs at /otlp. `service.name` becomes the
 * `service_name` index label; trace_id and span_id stay structured metadata (Grafana's derived
 * field matches them as labels). The log class becomes the `log_class` label, so the compactor can
 * keep each class for its own retention; application logs use the default period.
 */

const CLASS_LABEL = LOG_CLASS_ATTRIBUTE.replace('.', '_');

export function lokiConfig(model: Model) {
  const retention = model.signals.logs.retentionMs;
  const classes: LogClass[] = ['access', 'audit', 'debug'];
  return {
    auth_enabled: false,
    server: {
      http_listen_port: port('loki', 'http'),
      grpc_listen_port: port('loki', 'grpc'),
      log_level: 'info',
    },
    common: {
      instance_addr: '127.0.0.1',
      path_prefix: '/loki',
      storage: { filesystem: { chunks_directory: '/loki/chunks', rules_directory: '/loki/rules' } },
      replication_factor: 1,
      ring: { kvstore: { store: 'inmemory' } },
    },
    schema_config: {
      configs: [
        {
          from: '2024-01-01',
          store: 'tsdb',
          object_store: 'filesystem',
          schema: 'v13',
          index: { prefix: 'index_', period: '24h' },
        },
      ],
    },
    limits_config: {
      allow_structured_metadata: true,
      volume_enabled: true,
      retention_period: formatDuration(retention.application),
      retention_stream: classes.map((logClass, index) => ({
        selector: `{${CLASS_LABEL}="${logClass}"}`,
        priority: index + 1,
        period: formatDuration(retention[logClass]),
      })),
      otlp_config: {
        resource_attributes: {
          attributes_config: [
            {
              action: 'index_label',
              attributes: ['service.name', 'service.namespace', 'deployment.environment.name'],
            },
          ],
        },
        log_attributes: [{ action: 'index_label', attributes: [LOG_CLASS_ATTRIBUTE] }],
      },
    },
    compactor: {
      working_directory: '/loki/compactor',
      compaction_interval: '10m',
      retention_enabled: true,
      retention_delete_delay: '2h',
      delete_request_store: 'filesystem',
    },
    ingester: { chunk_idle_period: '1m', max_chunk_age: '1h' },
    query_range: { results_cache: { cache: { embedded_cache: { enabled: true, max_size_mb: 100 } } } },
    analytics: { reporting_enabled: false },
  };
}

export const lokiTarget: Target = {
  name: 'loki',
  description: 'Loki 3 configuration: OTLP ingestion, structured metadata, per-class retention',
  generate: (model: Model): Artifact[] => [
    { path: 'stacks/loki/loki.yaml', format: 'yaml', content: lokiConfig(model) },
  ],
};
