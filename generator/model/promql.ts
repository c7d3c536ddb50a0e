import { SPAN_METRICS } from './conventions.ts';
import type { ServiceModel } from './model.ts';

/** Small PromQL builders, so selectors are escaped and spelled the same way everywhere. */

export function labelValue(value: string): string {
  return JSON.stringify(value);
}

export function selector(matchers: Record<string, string | { re: string }>): string {
  const parts = Object.entries(matchers).map(([label, value]) =>
    typeof value === 'string' ? `${label}=${labelValue(value)}` : `${label}=~${labelValue(value.re)}`,
  );
  return `{${parts.join(',')}}`;
}

export function escapeRegexLiteral(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Numbers as PromQL literals: shortest exact-enough form, never `0.014400000000000001`. */
export function num(value: number): string {
  return String(Number(value.toPrecision(10)));
}

/** The span kind whose spans are a service's requests: server spans, or consumer spans for workers. */
export function requestSpanKind(service: ServiceModel): string {
  return service.kind === 'worker' ? 'SPAN_KIND_CONSUMER' : 'SPAN_KIND_SERVER';
}

export const ERROR_STATUS = 'STATUS_CODE_ERROR';
export const REQUEST_KINDS_RE = 'SPAN_KIND_SERVER|SPAN_KIND_CONSUMER';

/** Matchers selecting a service's requests, optionally limited to some routes. */
export function requestMatchers(service: ServiceModel, routes?: readonly string[]) {
  const matchers: Record<string, string | { re: string }> = {
    service_name: service.name,
    span_kind: requestSpanKind(service),
  };
  if (routes && routes.length > 0) matchers.http_route = { re: routes.map(escapeRegexLiteral).join('|') };
  return matchers;
}

export const metric = SPAN_METRICS;

/**
 * Rate of a Collector counter summed over the three signals, keeping which signal as a label.
 * A plain `rate({__name__=~"..."})` drops the names and then fails on duplicate label sets.
 */
export function perSignalRate(prefix: string, by: string, range: string): string {
  const parts = ['spans', 'metric_points', 'log_records'].map(
    (signal) => `label_replace(rate(${prefix}_${signal}[${range}]), "signal", "${signal}", "", "")`,
  );
  return `sum by (${by}) (${parts.join(' or ')})`;
}
