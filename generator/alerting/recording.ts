import { SPAN_METRICS } from '../model/conventions.ts';
import type { RecordingRule } from './definitions.ts';
import { ERROR_STATUS, REQUEST_KINDS_RE, selector } from '../model/promql.ts';
import { LATENCY_QUANTILES, RULE } from '../model/rule-names.ts';

/** The shared recording rules: RED rates and latency quantiles of every service at once. */

export function sharedRecording(): RecordingRule[] {
  const requests = selector({ span_kind: { re: REQUEST_KINDS_RE } });
  const errors = selector({ span_kind: { re: REQUEST_KINDS_RE }, status_code: ERROR_STATUS });
  const calls = SPAN_METRICS.calls;
  const rules: RecordingRule[] = [
    { record: RULE.serviceRequests, expr: `sum by (service_name) (rate(${calls}${requests}[5m]))` },
    {
      record: RULE.serviceErrors,
      expr: `sum by (service_name) (rate(${calls}${errors}[5m]))`,
    },
    {
      record: RULE.serviceErrorRatio,
      expr: `(${RULE.serviceErrors} or ${RULE.serviceRequests} * 0) / ${RULE.serviceRequests}`,
    },
    {
      record: RULE.routeFrontendRequests,
      expr: `sum by (service_name, http_route, frontend) (rate(${calls}${requests}[5m]))`,
    },
    {
      record: RULE.routeFrontendErrors,
      expr: `sum by (service_name, http_route, frontend) (rate(${calls}${errors}[5m]))`,
    },
  ];
  for (const quantile of LATENCY_QUANTILES) {
    rules.push({
      record: RULE.serviceLatency(quantile),
      expr: `histogram_quantile(${quantile / 100}, sum by (service_name, le) (rate(${SPAN_METRICS.durationBucket}${requests}[5m])))`,
    });
    rules.push({
      record: RULE.routeLatency(quantile),
      expr: `histogram_quantile(${quantile / 100}, sum by (service_name, http_route, le) (rate(${SPAN_METRICS.durationBucket}${requests}[5m])))`,
    });
  }
  return rules;
}
