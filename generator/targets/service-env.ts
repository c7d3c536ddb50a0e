import { ENDPOINTS } from '../model/conventions.ts';
import type { Model, ServiceModel } from '../model/model.ts';
import { formatDuration } from '../model/duration.ts';
import type { Artifact, Target } from './artifact.ts';
import { PYTHON_DIR, excludedUrls } from './python.ts';

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

/**
 * What a Python service needs beyond the plain OTEL_* set: the bootstrap on PYTHONPATH and its settings
 * by name, the redacting span exporter, stable HTTP semantic conventions (http.route,
 * http.response.status_code: the span-metric dimensions), health routes untraced, and the agent's own
 * logging handlers off, since the bootstrap emits each record once.
 */
function pythonEnv(service: ServiceModel): Record<string, string> {
  return {
    PYTHONPATH: PYTHON_DIR,
    OTELKIT_SERVICE: service.name,
    OTEL_TRACES_EXPORTER: 'otelkit',
    OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
    OTEL_PYTHON_EXCLUDED_URLS: excludedUrls(),
    OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION: 'false',
    OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED: 'false',
    // a random service.instance.id per process (per worker after a fork), and no cloud metadata probes
    OTEL_EXPERIMENTAL_RESOURCE_DETECTORS: 'service_instance',
  };
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
    ...(service.runtime === 'python' ? pythonEnv(service) : {}),
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
          (service.runtime === 'python'
            ? `# python service: from the directory holding preload/, set -a; . preload/${service.name}.env; set +a; opentelemetry-instrument uvicorn app:app\n`
            : `# ${service.runtime} service: load into its environment (compose env_file:, or set -a; . this-file; set +a)\n`) +
          `# metrics every ${formatDuration(model.signals.metrics.scrapeIntervalMs)}, OTLP/HTTP to the local Collector\n` +
          Object.entries(serviceEnv(model, service))
            .map(([key, value]) => `${key}=${value}`)
            .join('\n'),
      })),
};
