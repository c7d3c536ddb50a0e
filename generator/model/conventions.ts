import { address, httpUrl, port } from './topology.ts';

/**
 * Names shared by the Collector config, the alert rules, the dashboards and the Node preload.
 * Change one here and every consumer follows, which is what keeps rules and panels in step.
 */

/** Span and metric attribute carrying the validated X-Frontend-ID. Also the log field name. */
export const FRONTEND_ATTRIBUTE = 'frontend';
export const UNKNOWN_FRONTEND = 'unknown';
/** Span attribute and log field carrying the X-Request-ID. */
export const REQUEST_ID_ATTRIBUTE = 'request_id';
/** Set on spans of requests carrying a valid X-Debug-Token; tail sampling keeps them all. */
export const DEBUG_ATTRIBUTE = 'otelkit.debug';
/** Log record attribute naming the class (application, access, audit, debug) for retention. */
export const LOG_CLASS_ATTRIBUTE = 'log.class';
/** The one http.route of requests no route template matches (the preload also uses it past its route cap). */
export const OVERFLOW_ROUTE = '/{other}';
/**
 * Set on spans of traces kept only by the base rate, to that rate (a double): Tempo's service
 * graphs count such a span as 1/rate requests (span_multiplier_key).
 */
export const SAMPLING_RATIO_ATTRIBUTE = 'otelkit.sampling.ratio';

/** Where the stack's services listen, inside the compose network. */
export const ENDPOINTS = {
  collectorOtlpGrpc: port('collector', 'otlpGrpc'),
  collectorOtlpHttp: port('collector', 'otlpHttp'),
  collectorHealth: port('collector', 'health'),
  collectorMetrics: port('collector', 'metrics'),
  prometheus: httpUrl('prometheus'),
  loki: httpUrl('loki'),
  tempoOtlpGrpc: address('tempo', 'otlpGrpc'),
  gatewayHost: 'otelcol-gateway',
} as const;

/**
 * The Collector's spanmetrics connector output as Prometheus's OTLP receiver names it
 * (dots to underscores, unit and `_total` suffixes). RED rules and panels read these.
 */
export const SPAN_METRICS = {
  namespace: 'traces.span.metrics',
  calls: 'traces_span_metrics_calls_total',
  durationBucket: 'traces_span_metrics_duration_milliseconds_bucket',
  durationCount: 'traces_span_metrics_duration_milliseconds_count',
  durationSum: 'traces_span_metrics_duration_milliseconds_sum',
} as const;

/** Attributes kept as span-metric dimensions: the RED breakdowns, and nothing unbounded. */
export const SPAN_METRIC_DIMENSIONS = [
  'http.request.method',
  'http.response.status_code',
  'http.route',
  FRONTEND_ATTRIBUTE,
] as const;

/** Attributes that hold raw URLs or ids; never allowed as metric labels. */
export const RAW_URL_ATTRIBUTES = ['url.full', 'url.path', 'url.query', 'http.target', 'http.url'] as const;

/** Health and scrape routes every runtime leaves untraced: one list, in the runtime's contract. */
export { HEALTH_ROUTES } from '../../runtime/standard.ts';

/** Resilience metrics of the observability contract, as Prometheus names them (counters end in _total). */
export const RESILIENCE_METRICS = [
  'circuit_breaker_state',
  'circuit_breaker_transitions_total',
  'retry_attempts_total',
  'timeout_exceeded_total',
  'bulkhead_rejections_total',
  'executor_active_workers',
  'executor_max_workers',
  'executor_pending_tasks',
  'semaphore_available',
  // asyncio's; Node has no counterpart, so only the Python bootstrap reports it
  'active_async_tasks',
] as const;

/** The Collector's own metrics on its Prometheus endpoint (no _total suffix in the pinned version). */
export const COLLECTOR_METRICS = [
  ...[
    'receiver_accepted',
    'receiver_refused',
    'receiver_failed',
    'exporter_sent',
    'exporter_send_failed',
    'exporter_enqueue_failed',
  ].flatMap((what) => ['spans', 'metric_points', 'log_records'].map((signal) => `otelcol_${what}_${signal}`)),
  'otelcol_exporter_queue_size',
  'otelcol_exporter_queue_capacity',
  // the tail samplers' evictions by trace age (CollectorTailSamplingEvicting)
  'otelcol_processor_tail_sampling_sampling_trace_removal_age_bucket',
  'otelcol_process_memory_rss',
  'otelcol_process_runtime_heap_alloc_bytes',
  'otelcol_process_cpu_seconds',
  'otelcol_process_uptime',
] as const;

/** Series Prometheus itself produces and the rules and panels use. */
export const PROMETHEUS_METRICS = ['up', 'ALERTS', 'prometheus_rule_evaluation_failures_total'] as const;

/**
 * The Go runtime's soft memory limit for a Collector whose container may use `limitMib`: 80 %, so the
 * garbage collector works harder before the container limit kills the process.
 */
export const collectorGoMemLimit = (limitMib: number) => `${Math.floor(limitMib * 0.8)}MiB`;

/** How containers of the compose stack reach the Docker host (mapped to host-gateway on Linux). */
export const DOCKER_HOST = 'host.docker.internal';
