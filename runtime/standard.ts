/**
 * The tables of the observability standard (seeds/003, "08 — Observability"): the Node preload
 * emits them and `otelkit check` holds logs and metrics to them. It lives with the runtimes because
 * they import nothing of the generator, while the generator may read the runtimes' contract. The
 * Python bootstrap carries its own copy (Python cannot import this); test/check keeps the two in step.
 */

/** Log levels, as the standard's structured-field table spells them (its jq filters match these). */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;

/** `resilience_event` names and the level each is logged at. */
export const RESILIENCE_EVENTS = {
  circuit_breaker_opened: 'error',
  circuit_breaker_half_open: 'warning',
  circuit_breaker_closed: 'info',
  circuit_breaker_rejected: 'warning',
  retry_attempt: 'warning',
  retry_exhausted: 'error',
  timeout_exceeded: 'warning',
  bulkhead_rejected: 'warning',
  bulkhead_contention: 'warning',
} as const satisfies Record<string, (typeof LOG_LEVELS)[number]>;

/** X-Request-ID values services accept as given (longer or other characters get a generated id). */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
export const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;
/** ISO 8601 in UTC: a Z or +00:00 offset. */
export const UTC_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|\+00:00)$/;

/**
 * Paths of the app's own health and scrape endpoints, left untraced by the Node preload and the
 * Python bootstrap (the standard: "do not trace health check endpoints, the Prometheus /metrics
 * scrape endpoint"), so they count in no RED metric either. Exact paths: /orders/health is traffic.
 */
export const HEALTH_ROUTES = [
  '/health',
  '/health/live',
  '/health/ready',
  '/health/detailed',
  '/healthz',
  '/livez',
  '/readyz',
  '/metrics',
] as const;
