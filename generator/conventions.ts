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

/** Where the stack's services listen, inside the compose network. */
export const ENDPOINTS = {
  collectorOtlpGrpc: 4317,
  collectorOtlpHttp: 4318,
  collectorHealth: 13133,
  collectorMetrics: 8888,
  prometheus: 'http://prometheus:9090',
  loki: 'http://loki:3100',
  tempoOtlpGrpc: 'tempo:4317',
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
