import { formatDuration } from './duration.ts';

/**
 * The recording rules' names, in Prometheus's `level:metric:operations` form. The rule files
 * define them, and dashboards, Grafana's correlations, runbooks and verify query them: all of them
 * build the names here, so a renamed rule cannot leave a panel querying nothing.
 */

export const LATENCY_QUANTILES = [50, 95, 99] as const;
export type LatencyQuantile = (typeof LATENCY_QUANTILES)[number];

export const RULE = {
  serviceRequests: 'service:requests:rate5m',
  serviceErrors: 'service:request_errors:rate5m',
  serviceErrorRatio: 'service:request_error_ratio:rate5m',
  routeFrontendRequests: 'service_route_frontend:requests:rate5m',
  routeFrontendErrors: 'service_route_frontend:request_errors:rate5m',
  serviceLatency: (quantile: LatencyQuantile) => `service:request_duration_ms:p${quantile}_5m`,
  routeLatency: (quantile: LatencyQuantile) => `service_route:request_duration_ms:p${quantile}_5m`,
  sloErrorRatio: (windowMs: number) => `slo:sli_error:ratio_rate${formatDuration(windowMs)}`,
  sloErrorRatioPeriod: 'slo:sli_error:ratio_period',
  /** Bad events (failed or too slow requests) per second of an SLI: the base rate long windows sum. */
  sloErrors: (windowMs: number) => `slo:sli_errors:rate${formatDuration(windowMs)}`,
  sloRequests: (windowMs: number) => `slo:sli_requests:rate${formatDuration(windowMs)}`,
  sloObjective: 'slo:objective:ratio',
  sloBudgetRemaining: 'slo:error_budget_remaining:ratio',
} as const;
