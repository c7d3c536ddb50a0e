import { SAMPLING_RATIO_ATTRIBUTE } from '../model/conventions.ts';
import type { Model } from '../model/model.ts';
import { formatGoDuration } from '../model/duration.ts';
import type { Artifact, Target } from './artifact.ts';
import { address, httpUrl, port } from '../model/topology.ts';

/**
 * Tempo 2 with local storage and fast flush for a local stack. The metrics generator produces
 * only service graphs (span metrics come from the Collector, before tail sampling) and remote-
 * writes them to Prometheus with exemplars. It sees only sampled traces: spans the Collector kept
 * at the base rate carry that rate, and count as 1/rate requests, so rates and error shares on
 * the service map match the traffic rather than the sampling.
 */

export function tempoConfig(model: Model) {
  return {
    stream_over_http_enabled: true,
    server: {
      http_listen_port: port('tempo', 'http'),
      grpc_listen_port: port('tempo', 'grpc'),
      log_level: 'info',
    },
    distributor: {
      receivers: {
        otlp: {
          protocols: {
            grpc: { endpoint: address('tempo', 'otlpGrpc', '0.0.0.0') },
            http: { endpoint: address('tempo', 'otlpHttp', '0.0.0.0') },
          },
        },
      },
    },
    ingester: { trace_idle_period: '5s', max_block_duration: '1m' },
    compactor: { compaction: { block_retention: formatGoDuration(model.signals.traces.retentionMs) } },
    storage: {
      trace: {
        backend: 'local',
        local: { path: '/var/tempo/traces' },
        wal: { path: '/var/tempo/wal' },
      },
    },
    metrics_generator: {
      registry: { external_labels: { source: 'tempo', project: model.project } },
      processor: { service_graphs: { span_multiplier_key: SAMPLING_RATIO_ATTRIBUTE } },
      storage: {
        path: '/var/tempo/generator/wal',
        remote_write: [{ url: `${httpUrl('prometheus')}/api/v1/write`, send_exemplars: true }],
      },
      traces_storage: { path: '/var/tempo/generator/traces' },
    },
    overrides: {
      defaults: {
        metrics_generator: { processors: ['service-graphs'] },
      },
    },
    usage_report: { reporting_enabled: false },
  };
}

export const tempoTarget: Target = {
  name: 'tempo',
  description: 'Tempo 2 configuration: OTLP, local storage, service graphs to Prometheus',
  generate: (model: Model): Artifact[] => [
    { path: 'stacks/tempo/tempo.yaml', format: 'yaml', content: tempoConfig(model) },
  ],
};
