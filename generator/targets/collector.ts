import {
  DEBUG_ATTRIBUTE,
  ENDPOINTS,
  OVERFLOW_ROUTE,
  RAW_URL_ATTRIBUTES,
  SAMPLING_RATIO_ATTRIBUTE,
  SPAN_METRICS,
  SPAN_METRIC_DIMENSIONS,
} from '../model/conventions.ts';
import type { Model } from '../model/model.ts';
import { ID_PLACEHOLDERS, orderRoutes, routeRegex } from '../routes.ts';
import { formatGoDuration } from '../model/duration.ts';
import { tailDecisionWaitMs, tailSamplingTraces, tracesPerSamplingCollector } from '../model/sampling.ts';
import type { Artifact, Target } from './artifact.ts';
import { MEMORY_LIMITER_SHARE, MEMORY_SPIKE_SHARE, QUEUE_BATCH_ITEMS } from '../model/capacity.ts';

/**
 * OpenTelemetry Collector configuration for the pinned Collector (see versions.ts).
 *
 * Span metrics come from the spanmetrics connector on the traces pipeline *before* tail sampling,
 * so RED rates count every request, not only the sampled ones. Service graphs come from Tempo's
 * metrics generator (stacks/tempo), which sees only sampled traces; spans kept at the base rate
 * carry that rate so it can weight them back to the traffic they stand for.
 */

export type CollectorConfig = {
  extensions: Record<string, unknown>;
  receivers: Record<string, unknown>;
  processors: Record<string, unknown>;
  connectors: Record<string, unknown>;
  exporters: Record<string, unknown>;
  service: {
    extensions: string[];
    telemetry: Record<string, unknown>;
    pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
  };
};

/** Component type names of the pinned Collector; `/suffix` instances share their type. */
export const COMPONENT = {
  otlpReceiver: 'otlp',
  memoryLimiter: 'memory_limiter',
  resourceDetection: 'resource_detection',
  transform: 'transform',
  redaction: 'redaction',
  tailSampling: 'tail_sampling',
  spanMetrics: 'span_metrics',
  forward: 'forward',
  otlpGrpcExporter: 'otlp_grpc',
  otlpHttpExporter: 'otlp_http',
  debugExporter: 'debug',
  loadBalancingExporter: 'load_balancing',
  healthCheck: 'health_check',
  fileStorage: 'file_storage',
} as const;

const QUEUE_STORAGE = `${COMPONENT.fileStorage}/queue`;

/** `$` starts an environment reference in Collector configs; `$$` is a literal dollar. */
function escapeDollars<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('$', () => '$$') as T;
  if (Array.isArray(value)) return value.map(escapeDollars) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)])) as T;
  }
  return value;
}

const ottlString = (text: string) => JSON.stringify(text);

function memoryLimiter(model: Model) {
  // leave headroom under the process limit for the Go runtime and spikes between checks
  const limit = Math.floor(model.collector.memoryLimitMib * MEMORY_LIMITER_SHARE);
  return { check_interval: '1s', limit_mib: limit, spike_limit_mib: Math.floor(limit * MEMORY_SPIKE_SHARE) };
}

function resourceDetection() {
  // env and system only: the cloud detectors probe metadata addresses, which must never happen here
  return {
    detectors: ['env', 'system'],
    system: { hostname_sources: ['os'] },
    timeout: '2s',
    override: false,
  };
}

/**
 * Server spans without a framework-set route get one from the spec's templates, or the fixed
 * OVERFLOW_ROUTE, never the raw path, so no id or unbounded path becomes a span-metric label;
 * their name becomes `METHOD route`, the semantic conventions' form. Routes and names set by
 * the SDK are trusted but still have id-like segments replaced.
 */
function traceNormalisation(model: Model) {
  const fromPath = 'cache["route_from_path"] == true';
  const statements: string[] = [
    'set(cache["route_from_path"], true) where attributes["http.route"] == nil and attributes["url.path"] != nil and kind == SPAN_KIND_SERVER',
  ];
  for (const service of model.services) {
    for (const template of orderRoutes(service.routes)) {
      statements.push(
        `set(attributes["http.route"], ${ottlString(template)}) where ${fromPath} and attributes["http.route"] == nil` +
          ` and resource.attributes["service.name"] == ${ottlString(service.name)}` +
          ` and IsMatch(attributes["url.path"], ${ottlString(routeRegex(template))})`,
      );
    }
  }
  statements.push(
    `set(attributes["http.route"], ${ottlString(OVERFLOW_ROUTE)}) where ${fromPath} and attributes["http.route"] == nil`,
    `set(name, Concat([attributes["http.request.method"], attributes["http.route"]], " ")) where ${fromPath} and attributes["http.request.method"] != nil`,
    `set(name, attributes["http.route"]) where ${fromPath} and attributes["http.request.method"] == nil`,
  );
  // Each id pattern takes a whole segment with the slashes on both sides (RE2 has no look-ahead).
  // Doubling every slash first gives adjacent segments a slash each, so one pass of the patterns
  // replaces /a/1/2 fully; halving them afterwards restores the path.
  const placeholders = (target: string, condition: string) => [
    `replace_pattern(${target}, "/", "//") where ${condition}`,
    ...ID_PLACEHOLDERS.map(
      ({ pattern, replacement }) =>
        `replace_pattern(${target}, ${ottlString(pattern)}, ${ottlString(replacement)}) where ${condition}`,
    ),
    `replace_pattern(${target}, "//", "/") where ${condition}`,
  ];
  statements.push(
    ...placeholders(
      'attributes["http.route"]',
      `cache["route_from_path"] == nil and attributes["http.route"] != nil`,
    ),
    ...placeholders('name', `cache["route_from_path"] == nil and IsMatch(name, "/")`),
  );
  return { error_mode: 'ignore', trace_statements: [{ context: 'span', statements }] };
}

/** Raw URLs and ids never become metric labels, whatever an SDK attached. */
function metricLabelHygiene() {
  return {
    error_mode: 'ignore',
    metric_statements: [
      {
        context: 'datapoint',
        statements: RAW_URL_ATTRIBUTES.map((key) => `delete_key(attributes, ${ottlString(key)})`),
      },
    ],
  };
}

function blockedKeyPattern(model: Model): string {
  const escaped = model.redaction.blockedKeys.map((key) => key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // matches the key itself and header-style attributes such as http.request.header.authorization
  return `(?i)^(.*[._])?(${escaped.join('|')})$`;
}

/** Second line of defence after the SDK: the same keys and value patterns, on traces and logs. */
function redaction(model: Model) {
  return {
    allow_all_keys: true,
    blocked_key_patterns: [blockedKeyPattern(model)],
    blocked_values: model.redaction.valuePatterns.map((p) => p.regex),
    summary: 'info',
  };
}

/** The redaction processor reads attributes; log bodies need the same value patterns applied. */
function logBodyRedaction(model: Model) {
  return {
    error_mode: 'ignore',
    log_statements: [
      {
        context: 'log',
        statements: model.redaction.valuePatterns.map(
          (p) => `replace_pattern(body, ${ottlString(p.regex)}, "****") where IsString(body)`,
        ),
      },
    ],
  };
}

/** Policies that keep a trace whatever the base rate: each such trace stands for itself alone. */
function keepPolicies(model: Model): Record<string, unknown>[] {
  const { traces } = model.signals;
  return [
    ...(traces.keepErrors
      ? [{ name: 'keep-errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }]
      : []),
    { name: 'keep-slow', type: 'latency', latency: { threshold_ms: traces.slowThresholdMs } },
    {
      name: 'keep-debug-requests',
      type: 'string_attribute',
      string_attribute: { key: DEBUG_ATTRIBUTE, values: ['true'] },
    },
  ];
}

/**
 * Two samplers over the same spans, keeping disjoint sets: one keeps what the keep policies
 * match, the other drops exactly that and keeps base_rate of the rest. Spans of the second set
 * are marked with the rate (SAMPLING_RATIO_ATTRIBUTE), so Tempo's service graphs count each as
 * 1/rate requests and error shares on the map stay true to the traffic.
 */
function tailSampling(model: Model, set: 'kept' | 'base-rate') {
  const { traces } = model.signals;
  const policies =
    set === 'kept'
      ? keepPolicies(model)
      : [
          ...keepPolicies(model).map((policy) => ({
            name: `not-${String(policy.name)}`,
            type: 'drop',
            drop: { drop_sub_policy: [policy] },
          })),
          {
            name: 'base-rate',
            type: 'probabilistic',
            probabilistic: { sampling_percentage: Number((traces.baseRate * 100).toFixed(4)) },
          },
        ];
  return {
    decision_wait: formatGoDuration(tailDecisionWaitMs(model)),
    num_traces: tailSamplingTraces(model),
    expected_new_traces_per_sec: tracesPerSamplingCollector(model),
    // spans arriving after their trace was decided follow that decision instead of being sampled
    // again as a fragment; the caches remember as many decisions as traces are held in memory
    decision_cache: {
      sampled_cache_size: tailSamplingTraces(model),
      non_sampled_cache_size: tailSamplingTraces(model),
    },
    policies,
  };
}

function samplingRatio(model: Model) {
  // an OTTL literal with a decimal point is a double, which is what Tempo reads
  const rate = Number(model.signals.traces.baseRate.toFixed(6));
  const literal = Number.isInteger(rate) ? rate.toFixed(1) : String(rate);
  return {
    error_mode: 'ignore',
    trace_statements: [
      {
        context: 'span',
        statements: [`set(attributes[${ottlString(SAMPLING_RATIO_ATTRIBUTE)}], ${literal})`],
      },
    ],
  };
}

/**
 * Span-metric series not fed by any span for this long stop being exported: TelemetryMissing's
 * absent_over_time can then see a silent service, and dead route/status combinations stop
 * counting against the cardinality limit. Twenty flushes, and never more than Prometheus's
 * 5-minute lookback, after which a silent series already reads as absent to an instant query.
 */
export function spanMetricsExpirationMs(model: Model): number {
  return Math.min(5 * 60_000, 20 * model.signals.metrics.scrapeIntervalMs);
}

function spanMetrics(model: Model) {
  return {
    namespace: SPAN_METRICS.namespace,
    histogram: {
      unit: 'ms',
      explicit: { buckets: model.signals.metrics.histogramBucketsMs.map((ms) => formatGoDuration(ms)) },
    },
    dimensions: SPAN_METRIC_DIMENSIONS.map((name) => ({ name })),
    exemplars: { enabled: true },
    aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
    metrics_flush_interval: formatGoDuration(model.signals.metrics.scrapeIntervalMs),
    metrics_expiration: formatGoDuration(spanMetricsExpirationMs(model)),
    series_expiration: formatGoDuration(spanMetricsExpirationMs(model)),
    aggregation_cardinality_limit: model.signals.metrics.maxSeriesPerMetric,
  };
}

const BATCH = { flushTimeoutMs: 1_000, minItems: QUEUE_BATCH_ITEMS, maxItems: 4096 } as const;

/**
 * Exporter-side batching, retry and a disk-backed queue so outages and restarts lose nothing:
 * retries never give up (max_elapsed_time 0), so data leaves the queue only when delivered or
 * refused as permanently invalid, and a full queue refuses new data (the pipeline alerts say so).
 * The queue counts items (spans, points, log records), sized for the exporter's share of the load
 * (capacity.ts): tail sampling releases one request per trace, so a request-counted queue would
 * hold that many traces, not batches. A batch leaves once it holds BATCH.minItems.
 */
function delivery(model: Model, queueItems: number) {
  const { persistentQueue } = model.collector;
  return {
    retry_on_failure: { enabled: true, initial_interval: '1s', max_interval: '30s', max_elapsed_time: '0s' },
    sending_queue: {
      enabled: true,
      num_consumers: 4,
      queue_size: queueItems,
      sizer: 'items',
      ...(persistentQueue.enabled ? { storage: QUEUE_STORAGE } : {}),
      batch: {
        flush_timeout: formatGoDuration(BATCH.flushTimeoutMs),
        min_size: BATCH.minItems,
        max_size: BATCH.maxItems,
        sizer: 'items',
      },
    },
  };
}

function backendExporters(model: Model): Record<string, unknown> {
  const queues = model.collector.queueItems.processing;
  const exporters: Record<string, unknown> = {
    [`${COMPONENT.otlpGrpcExporter}/tempo`]: {
      endpoint: ENDPOINTS.tempoOtlpGrpc,
      tls: { insecure: true },
      ...delivery(model, queues.traces),
    },
    [`${COMPONENT.otlpHttpExporter}/prometheus`]: {
      metrics_endpoint: `${ENDPOINTS.prometheus}/api/v1/otlp/v1/metrics`,
      compression: 'gzip',
      ...delivery(model, queues.metrics),
    },
    [`${COMPONENT.otlpHttpExporter}/loki`]: {
      logs_endpoint: `${ENDPOINTS.loki}/otlp/v1/logs`,
      compression: 'gzip',
      ...delivery(model, queues.logs),
    },
  };
  if (model.collector.debugExporter) exporters[COMPONENT.debugExporter] = { verbosity: 'basic' };
  return exporters;
}

function commonExtensions(model: Model): Record<string, unknown> {
  const extensions: Record<string, unknown> = {
    [COMPONENT.healthCheck]: { endpoint: `0.0.0.0:${ENDPOINTS.collectorHealth}` },
  };
  if (model.collector.persistentQueue.enabled) {
    const directory = model.collector.persistentQueue.directory;
    extensions[QUEUE_STORAGE] = {
      directory,
      create_directory: true,
      timeout: '1s',
      compaction: { on_start: true, on_rebound: true, directory },
    };
  }
  return extensions;
}

function telemetry() {
  return {
    logs: { level: 'info', encoding: 'json' },
    metrics: {
      level: 'detailed',
      readers: [
        { pull: { exporter: { prometheus: { host: '0.0.0.0', port: ENDPOINTS.collectorMetrics } } } },
      ],
    },
  };
}

function otlpReceiver() {
  return {
    protocols: {
      grpc: { endpoint: `0.0.0.0:${ENDPOINTS.collectorOtlpGrpc}` },
      http: { endpoint: `0.0.0.0:${ENDPOINTS.collectorOtlpHttp}` },
    },
  };
}

const withDebug = (model: Model, exporters: string[]) =>
  model.collector.debugExporter ? [...exporters, COMPONENT.debugExporter] : exporters;

/**
 * Everything after the agent hop: span metrics, tail sampling, export to the backends. Spans are
 * admitted, detected, given routes and redacted once, then forwarded to the span-metrics pipeline
 * (every span) and to the two samplers.
 */
function processingConfig(model: Model, options: { redact: boolean }): CollectorConfig {
  const first = [COMPONENT.memoryLimiter, COMPONENT.resourceDetection];
  const redact = options.redact ? [COMPONENT.redaction] : [];
  const exporters = backendExporters(model);
  const extensions = commonExtensions(model);
  const normalised = `${COMPONENT.forward}/traces`;
  return {
    extensions,
    receivers: { [COMPONENT.otlpReceiver]: otlpReceiver() },
    processors: {
      [COMPONENT.memoryLimiter]: memoryLimiter(model),
      [COMPONENT.resourceDetection]: resourceDetection(),
      [`${COMPONENT.transform}/routes`]: traceNormalisation(model),
      [`${COMPONENT.transform}/metric_labels`]: metricLabelHygiene(),
      ...(options.redact
        ? {
            [COMPONENT.redaction]: redaction(model),
            [`${COMPONENT.transform}/log_bodies`]: logBodyRedaction(model),
          }
        : {}),
      [COMPONENT.tailSampling]: tailSampling(model, 'kept'),
      [`${COMPONENT.tailSampling}/base_rate`]: tailSampling(model, 'base-rate'),
      [`${COMPONENT.transform}/sampling_ratio`]: samplingRatio(model),
    },
    connectors: { [normalised]: {}, [COMPONENT.spanMetrics]: spanMetrics(model) },
    exporters,
    service: {
      extensions: Object.keys(extensions),
      telemetry: telemetry(),
      pipelines: {
        'traces/in': {
          receivers: [COMPONENT.otlpReceiver],
          processors: [...first, `${COMPONENT.transform}/routes`, ...redact],
          exporters: [normalised],
        },
        traces: {
          receivers: [normalised],
          processors: [COMPONENT.tailSampling],
          exporters: withDebug(model, [`${COMPONENT.otlpGrpcExporter}/tempo`]),
        },
        'traces/base_rate': {
          receivers: [normalised],
          processors: [`${COMPONENT.tailSampling}/base_rate`, `${COMPONENT.transform}/sampling_ratio`],
          exporters: withDebug(model, [`${COMPONENT.otlpGrpcExporter}/tempo`]),
        },
        'traces/spanmetrics': {
          receivers: [normalised],
          processors: [],
          exporters: [COMPONENT.spanMetrics],
        },
        metrics: {
          receivers: [COMPONENT.otlpReceiver, COMPONENT.spanMetrics],
          processors: [...first, `${COMPONENT.transform}/metric_labels`, ...redact],
          exporters: withDebug(model, [`${COMPONENT.otlpHttpExporter}/prometheus`]),
        },
        logs: {
          receivers: [COMPONENT.otlpReceiver],
          processors: [...first, ...redact, ...(options.redact ? [`${COMPONENT.transform}/log_bodies`] : [])],
          exporters: withDebug(model, [`${COMPONENT.otlpHttpExporter}/loki`]),
        },
      },
    },
  };
}

/**
 * Gateway mode: agents redact and forward, routing spans by trace id so every span of a trace
 * reaches the same gateway, which tail-samples it whole.
 */
function agentConfig(model: Model): CollectorConfig {
  const first = [COMPONENT.memoryLimiter, COMPONENT.resourceDetection, COMPONENT.redaction];
  const extensions = commonExtensions(model);
  const gatewayOtlp = {
    endpoint: `${ENDPOINTS.gatewayHost}:${ENDPOINTS.collectorOtlpGrpc}`,
    tls: { insecure: true },
    ...delivery(model, model.collector.queueItems.agent.telemetry),
  };
  return {
    extensions,
    receivers: { [COMPONENT.otlpReceiver]: otlpReceiver() },
    processors: {
      [COMPONENT.memoryLimiter]: memoryLimiter(model),
      [COMPONENT.resourceDetection]: resourceDetection(),
      [COMPONENT.redaction]: redaction(model),
      [`${COMPONENT.transform}/log_bodies`]: logBodyRedaction(model),
    },
    connectors: {},
    exporters: {
      // The persistent queue and retries sit at the load-balancing level: the per-gateway OTLP
      // exporters it creates share one queue configuration and cannot persist, so they keep
      // none and hand every failure back to it, to be retried from disk (and re-routed when the
      // gateway set changes) instead of being held in memory a restart would lose.
      [COMPONENT.loadBalancingExporter]: {
        routing_key: 'traceID',
        timeout: '5s',
        ...delivery(model, model.collector.queueItems.agent.traces),
        protocol: {
          otlp: {
            tls: { insecure: true },
            timeout: '5s',
            retry_on_failure: { enabled: false },
            sending_queue: { enabled: false },
          },
        },
        resolver: {
          dns: {
            hostname: ENDPOINTS.gatewayHost,
            port: String(ENDPOINTS.collectorOtlpGrpc),
            interval: '30s',
          },
        },
      },
      [`${COMPONENT.otlpGrpcExporter}/gateway`]: gatewayOtlp,
    },
    service: {
      extensions: Object.keys(extensions),
      telemetry: telemetry(),
      pipelines: {
        traces: {
          receivers: [COMPONENT.otlpReceiver],
          processors: first,
          exporters: [COMPONENT.loadBalancingExporter],
        },
        metrics: {
          receivers: [COMPONENT.otlpReceiver],
          processors: first,
          exporters: [`${COMPONENT.otlpGrpcExporter}/gateway`],
        },
        logs: {
          receivers: [COMPONENT.otlpReceiver],
          processors: [...first, `${COMPONENT.transform}/log_bodies`],
          exporters: [`${COMPONENT.otlpGrpcExporter}/gateway`],
        },
      },
    },
  };
}

export interface CollectorConfigs {
  /** The Collector users run (the only one in single mode, the agent in gateway mode). */
  main: CollectorConfig;
  gateway: CollectorConfig | undefined;
}

export function collectorConfigs(model: Model): CollectorConfigs {
  if (model.collector.mode === 'gateway') {
    return { main: agentConfig(model), gateway: processingConfig(model, { redact: false }) };
  }
  return { main: processingConfig(model, { redact: true }), gateway: undefined };
}

export const COLLECTOR_CONFIG_PATH = 'stacks/collector/config.yaml';
export const COLLECTOR_GATEWAY_CONFIG_PATH = 'stacks/collector/gateway.yaml';

export const collectorTarget: Target = {
  name: 'collector',
  description: 'OpenTelemetry Collector pipelines (and the gateway config in gateway mode)',
  generate(model: Model): Artifact[] {
    const configs = collectorConfigs(model);
    const artifacts: Artifact[] = [
      { path: COLLECTOR_CONFIG_PATH, format: 'yaml', content: escapeDollars(configs.main) },
    ];
    if (configs.gateway) {
      artifacts.push({
        path: COLLECTOR_GATEWAY_CONFIG_PATH,
        format: 'yaml',
        content: escapeDollars(configs.gateway),
      });
    }
    return artifacts;
  },
};
