import { parseDuration } from '../model/duration.ts';
import {
  BUILTIN_BLOCKED_KEYS,
  BUILTIN_VALUE_PATTERNS,
  type CollectorModel,
  type Model,
  type ServiceModel,
} from '../model/model.ts';
import { PINNED } from '../model/versions.ts';
import { sizeCollectors } from '../model/capacity.ts';
import { tailDecisionWaitMs } from '../model/sampling.ts';
import type { ParsedSpec } from './schema.ts';

/**
 * Normalisation, the stage between parsing and the rules: defaults applied, durations in
 * milliseconds, objectives as fractions, built-in redaction lists merged. Targets never see the
 * raw spec; the model's types are its own (generator/model/ imports nothing above it), and
 * assigning the parsed spec to them here is where the compiler holds the two in step.
 */
const ms = (text: string): number => {
  const value = parseDuration(text);
  // The schema has already rejected malformed durations; reaching this is a programming error.
  if (value === undefined) throw new Error(`internal: unvalidated duration ${text}`);
  return value;
};

/** The rules and the targets read one Model per parsed spec (and so one alert catalogue). */
const models = new WeakMap<ParsedSpec, Model>();

export function toModel(spec: ParsedSpec): Model {
  let model = models.get(spec);
  if (!model) models.set(spec, (model = normalise(spec)));
  return model;
}

function normalise(spec: ParsedSpec): Model {
  const services = spec.services.map((service): ServiceModel => ({
    name: service.name,
    description: service.description,
    runtime: service.runtime,
    kind: service.kind,
    module: service.module,
    team: service.team,
    owners: service.owners,
    frontends: [...service.frontends],
    routes: [...service.routes],
    dependencies: service.dependencies.map((dependency) => ({
      name: dependency.name,
      kind: dependency.kind,
      system: dependency.system,
      service: dependency.service,
      critical: dependency.critical,
      timeoutMs: dependency.resilience?.timeout ? ms(dependency.resilience.timeout) : undefined,
      retry: dependency.resilience?.retry
        ? {
            maxAttempts: dependency.resilience.retry.max_attempts,
            backoffMs: ms(dependency.resilience.retry.backoff),
          }
        : undefined,
      circuitBreaker: dependency.resilience?.circuit_breaker
        ? {
            failureRateThreshold: dependency.resilience.circuit_breaker.failure_rate_threshold,
            openDurationMs: ms(dependency.resilience.circuit_breaker.open_duration),
          }
        : undefined,
      bulkhead: dependency.resilience?.bulkhead
        ? { maxConcurrent: dependency.resilience.bulkhead.max_concurrent }
        : undefined,
    })),
    slos: service.slos.map((slo) => ({
      name: slo.name,
      kind: slo.kind,
      objective: Number((slo.objective / 100).toFixed(8)),
      periodMs: ms(slo.period),
      thresholdMs: slo.kind === 'latency' ? ms(slo.threshold) : undefined,
      description: slo.description,
      routes: slo.routes,
    })),
    metricsEndpoint: service.metrics_endpoint,
    admin: service.admin && {
      port: service.admin.port,
      bind: service.admin.bind,
      tokenEnv: service.admin.token_env,
      metrics: service.admin.metrics,
      eventLoopDelayMs: ms(service.admin.event_loop_delay_threshold),
    },
  }));

  const { traces, logs, metrics } = spec.signals;
  const sloThresholds = services.flatMap((s) =>
    s.slos.flatMap((slo) => (slo.thresholdMs ? [slo.thresholdMs] : [])),
  );
  // Every latency threshold is a bucket boundary, so SLIs and the slow-request alert are exact;
  // one bucket above the slow threshold lets a quantile land beyond it.
  const slowMs = ms(traces.sampling.slow_threshold);
  const thresholds = [...metrics.histogram_buckets.map(ms), ...sloThresholds, slowMs];
  if (Math.max(...thresholds) === slowMs) thresholds.push(slowMs * 2);
  const buckets = [...new Set(thresholds)].sort((a, b) => a - b);

  const allowed = new Set(spec.redaction.allowed_keys.map((k) => k.toLowerCase()));
  const blockedKeys = [
    ...new Set([...BUILTIN_BLOCKED_KEYS, ...spec.redaction.blocked_keys.map((k) => k.toLowerCase())]),
  ]
    .filter((key) => !allowed.has(key))
    .sort();
  const valuePatterns = [
    ...Object.entries(BUILTIN_VALUE_PATTERNS)
      .filter(([name]) => spec.redaction.patterns[name as keyof typeof BUILTIN_VALUE_PATTERNS])
      .map(([name, regex]) => ({ name, regex })),
    ...spec.redaction.custom_patterns,
  ];

  const collector = collectorModel(spec, services);
  return {
    project: spec.project,
    environment: spec.environment,
    services,
    signals: {
      traces: {
        keepErrors: traces.sampling.keep_errors,
        slowThresholdMs: ms(traces.sampling.slow_threshold),
        baseRate: traces.sampling.base_rate,
        decisionWaitMs: ms(traces.sampling.decision_wait),
        retentionMs: ms(traces.retention),
      },
      logs: {
        level: logs.level,
        retentionMs: {
          application: ms(logs.classes.application.retention),
          access: ms(logs.classes.access.retention),
          audit: ms(logs.classes.audit.retention),
          debug: ms(logs.classes.debug.retention),
        },
      },
      metrics: {
        retentionMs: ms(metrics.retention),
        scrapeIntervalMs: ms(metrics.scrape_interval),
        histogramBucketsMs: buckets,
        maxRoutesPerService: metrics.cardinality.max_routes_per_service,
        maxSeriesPerMetric: metrics.cardinality.max_series_per_metric,
        resourceAttributes: [...metrics.resource_attributes].sort(),
      },
    },
    redaction: { blockedKeys, valuePatterns },
    alerting: spec.alerting,
    runbookBaseUrl: spec.runbooks?.base_url.replace(/\/+$/, ''),
    collector,
    versions: {
      ...PINNED,
      ...Object.fromEntries(Object.entries(spec.versions).filter(([, v]) => v !== undefined)),
    },
    kubernetes: {
      ...spec.kubernetes,
      storage: { ...spec.kubernetes.storage, collector_queue: collector.queueVolume },
    },
  };
}

/** The Collectors as the spec sets them, and sized from its declared load where it does not. */
function collectorModel(spec: ParsedSpec, services: ServiceModel[]): CollectorModel {
  const { collector } = spec;
  const queue = collector.persistent_queue;
  const load = {
    spansPerSecond: collector.expected_load.spans_per_second,
    spansPerTrace: collector.expected_load.spans_per_trace,
    logRecordsPerSecond: collector.expected_load.log_records_per_second,
    dataPointsPerSecond: collector.expected_load.data_points_per_second,
  };
  const sizing = sizeCollectors({
    mode: collector.mode,
    load,
    decisionWaitMs: tailDecisionWaitMs({
      services,
      signals: { traces: { decisionWaitMs: ms(spec.signals.traces.sampling.decision_wait) } },
    }),
    explicit: {
      gatewayReplicas: collector.gateway_replicas,
      memoryLimitMib: collector.memory_limit_mib,
      queueBatches: queue.queue_size,
    },
    queue: {
      persistent: queue.enabled,
      outageMs: ms(queue.outage),
      volume: spec.kubernetes.storage.collector_queue,
    },
  });
  return {
    mode: collector.mode,
    load,
    gatewayReplicas: sizing.gatewayReplicas,
    memoryLimitMib: sizing.memoryLimitMib,
    persistentQueue: { enabled: queue.enabled, directory: queue.directory },
    queueItems: sizing.queueItems,
    queueVolume: sizing.queueVolume,
    sizingFindings: sizing.findings,
    debugExporter: collector.debug_exporter,
  };
}
