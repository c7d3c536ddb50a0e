import {
  DEBUG_ATTRIBUTE,
  ENDPOINTS,
  RAW_URL_ATTRIBUTES,
  SPAN_METRICS,
  SPAN_METRIC_DIMENSIONS,
} from '../conventions.ts';
import type { Model } from '../model.ts';
import { ID_PLACEHOLDERS, PLACEHOLDER_PASSES, orderRoutes, routeRegex } from '../routes.ts';
import { formatGoDuration } from '../spec/duration.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * OpenTelemetry Collector configuration for the pinned Collector (see versions.ts).
 *
 * Span metrics come from the spanmetrics connector on the traces pipeline *before* tail sampling,
 * so RED rates count every request, not only the sampled ones. Service graphs come from Tempo's
 * metrics generator (stacks/tempo), which only needs topology.
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
  const limit = Math.floor(model.collector.memoryLimitMib * 0.8);
  return { check_interval: '1s', limit_mib: limit, spike_limit_mib: Math.floor(limit * 0.25) };
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

/** Route templates from the spec first, then id placeholders; server spans only get a route. */
function traceNormalisation(model: Model) {
  const statements: string[] = [];
  for (const service of model.services) {
    for (const template of orderRoutes(service.routes)) {
      statements.push(
        `set(attributes["http.route"], ${ottlString(template)}) where attributes["http.route"] == nil` +
          ` and resource.attributes["service.name"] == ${ottlString(service.name)}` +
          ` and attributes["url.path"] != nil and IsMatch(attributes["url.path"], ${ottlString(routeRegex(template))})`,
      );
    }
  }
  statements.push(
    'set(attributes["http.route"], attributes["url.path"]) where attributes["http.route"] == nil and attributes["url.path"] != nil and kind == SPAN_KIND_SERVER',
  );
  for (let pass = 0; pass < PLACEHOLDER_PASSES; pass++) {
    for (const { pattern, replacement } of ID_PLACEHOLDERS) {
      statements.push(
        `replace_pattern(attributes["http.route"], ${ottlString(pattern)}, ${ottlString(replacement)}) where attributes["http.route"] != nil`,
      );
      statements.push(`replace_pattern(name, ${ottlString(pattern)}, ${ottlString(replacement)})`);
    }
  }
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

function tailSampling(model: Model) {
  const { traces } = model.signals;
  const policies: Record<string, unknown>[] = [];
  if (traces.keepErrors) {
    policies.push({ name: 'keep-errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } });
  }
  policies.push({ name: 'keep-slow', type: 'latency', latency: { threshold_ms: traces.slowThresholdMs } });
  policies.push({
    name: 'keep-debug-requests',
    type: 'string_attribute',
    string_attribute: { key: DEBUG_ATTRIBUTE, values: ['true'] },
  });
  policies.push({
    name: 'base-rate',
    type: 'probabilistic',
    probabilistic: { sampling_percentage: Number((traces.baseRate * 100).toFixed(4)) },
  });
  return {
    decision_wait: formatGoDuration(traces.decisionWaitMs),
    num_traces: 50000,
    expected_new_traces_per_sec: 100,
    policies,
  };
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
    aggregation_cardinality_limit: model.signals.metrics.maxSeriesPerMetric,
  };
}

/** Exporter-side batching, retry and a disk-backed queue so outages and restarts lose nothing. */
function delivery(model: Model) {
  const { persistentQueue } = model.collector;
  return {
    retry_on_failure: { enabled: true, initial_interval: '1s', max_interval: '30s', max_elapsed_time: '30m' },
    sending_queue: {
      enabled: true,
      num_consumers: 4,
      queue_size: persistentQueue.queueSize,
      sizer: 'requests',
      ...(persistentQueue.enabled ? { storage: QUEUE_STORAGE } : {}),
      batch: { flush_timeout: '1s', min_size: 512, max_size: 4096, sizer: 'items' },
    },
  };
}

function backendExporters(model: Model): Record<string, unknown> {
  const exporters: Record<string, unknown> = {
    [`${COMPONENT.otlpGrpcExporter}/tempo`]: {
      endpoint: ENDPOINTS.tempoOtlpGrpc,
      tls: { insecure: true },
      ...delivery(model),
    },
    [`${COMPONENT.otlpHttpExporter}/prometheus`]: {
      metrics_endpoint: `${ENDPOINTS.prometheus}/api/v1/otlp/v1/metrics`,
      compression: 'gzip',
      ...delivery(model),
    },
    [`${COMPONENT.otlpHttpExporter}/loki`]: {
      logs_endpoint: `${ENDPOINTS.loki}/otlp/v1/logs`,
      compression: 'gzip',
      ...delivery(model),
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

/** Everything after the agent hop: span metrics, tail sampling, export to the backends. */
function processingConfig(model: Model, options: { redact: boolean }): CollectorConfig {
  const first = [COMPONENT.memoryLimiter, COMPONENT.resourceDetection];
  const redact = options.redact ? [COMPONENT.redaction] : [];
  const exporters = backendExporters(model);
  const extensions = commonExtensions(model);
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
      [COMPONENT.tailSampling]: tailSampling(model),
    },
    connectors: { [COMPONENT.spanMetrics]: spanMetrics(model) },
    exporters,
    service: {
      extensions: Object.keys(extensions),
      telemetry: telemetry(),
      pipelines: {
        traces: {
          receivers: [COMPONENT.otlpReceiver],
          processors: [...first, `${COMPONENT.transform}/routes`, ...redact, COMPONENT.tailSampling],
          exporters: withDebug(model, [`${COMPONENT.otlpGrpcExporter}/tempo`]),
        },
        'traces/spanmetrics': {
          receivers: [COMPONENT.otlpReceiver],
          processors: [...first, `${COMPONENT.transform}/routes`],
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
    ...delivery(model),
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
      [COMPONENT.loadBalancingExporter]: {
        routing_key: 'traceID',
        protocol: { otlp: { tls: { insecure: true }, timeout: '5s' } },
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
