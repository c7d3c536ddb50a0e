import { ENDPOINTS } from '../conventions.ts';
import type { Model, ServiceModel } from '../model.ts';
import { formatDuration } from '../spec/duration.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * For services not on Node: the standard OTEL_* variables their own OpenTelemetry SDK reads, so a
 * Python, Go, Java, Rust or .NET service reports exactly like a Node one (`env_file:` in compose,
 * `set -a; . preload/<service>.env` in a shell, or the platform's env configuration).
 */

function resourceAttributes(model: Model, service: ServiceModel): string {
  const attributes: Record<string, string> = {
    'deployment.environment.name': model.environment,
    'service.namespace': model.project,
    team: service.team,
  };
  // OTEL_RESOURCE_ATTRIBUTES values are percent-encoded (W3C baggage octets)
  return Object.entries(attributes)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join(',');
}

export function serviceEnv(model: Model, service: ServiceModel): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: service.name,
    OTEL_RESOURCE_ATTRIBUTES: resourceAttributes(model, service),
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ENDPOINTS.collectorOtlpHttp}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    // Prometheus's OTLP receiver rejects delta temporality
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'cumulative',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'otlp',
    // the Collector tail-samples whole traces, so every span is sent
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_PROPAGATORS: 'tracecontext,baggage',
    OTEL_METRIC_EXPORT_INTERVAL: String(model.signals.metrics.scrapeIntervalMs),
    OTEL_BSP_SCHEDULE_DELAY: '1000',
  };
}

export const serviceEnvTarget: Target = {
  name: 'service-env',
  description: 'OTEL_* environment files for services that use their own OpenTelemetry SDK',
  generate: (model: Model): Artifact[] =>
    model.services
      .filter((service) => service.runtime !== 'node')
      .map((service) => ({
        path: `preload/${service.name}.env`,
        format: 'text',
        comment: 'hash',
        content:
          `# ${service.runtime} service: load into its environment (compose env_file:, or set -a; . this-file; set +a)\n` +
          `# metrics every ${formatDuration(model.signals.metrics.scrapeIntervalMs)}, OTLP/HTTP to the local Collector\n` +
          Object.entries(serviceEnv(model, service))
            .map(([key, value]) => `${key}=${value}`)
            .join('\n'),
      })),
};
