import { RULE } from '../model/rule-names.ts';
import { SPAN_METRICS } from '../model/conventions.ts';
import type { Model } from '../model/model.ts';
import { REQUEST_KINDS_RE } from '../model/promql.ts';
import { frontendVariable, promQuery, promTable, serviceVariable } from './common.ts';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { FRONTEND, SVC, base, series } from './panels.ts';

/** The per-service dashboard: routes, frontends, latency quantiles. */

export function service(model: Model) {
  const requests = `span_kind=~"${REQUEST_KINDS_RE}"`;
  return base(
    model,
    'service',
    'Service RED',
    'Rate, errors and duration of one service, by route and frontend, with exemplars.',
  )
    .withVariable(serviceVariable(false))
    .withVariable(frontendVariable())
    .withPanel(
      series('Requests per second by route', 'reqps').withTarget(
        promQuery(
          `sum by (http_route) (${RULE.routeFrontendRequests}{${SVC},${FRONTEND}})`,
          '{{http_route}}',
        ),
      ),
    )
    .withPanel(
      series('Errors per second by route', 'reqps').withTarget(
        promQuery(`sum by (http_route) (${RULE.routeFrontendErrors}{${SVC},${FRONTEND}})`, '{{http_route}}'),
      ),
    )
    .withPanel(
      series('Latency p50 / p95 / p99 (exemplars link to traces)', 'ms')
        .span(24)
        .withTarget(promQuery(`${RULE.serviceLatency(50)}{${SVC}}`, 'p50', 'A'))
        .withTarget(promQuery(`${RULE.serviceLatency(95)}{${SVC}}`, 'p95', 'B'))
        .withTarget(promQuery(`${RULE.serviceLatency(99)}{${SVC}}`, 'p99', 'C'))
        .withTarget(
          promQuery(
            `histogram_quantile(0.99, sum by (le) (rate(${SPAN_METRICS.durationBucket}{${SVC},${requests}}[$__rate_interval])))`,
            'p99 (raw, with exemplars)',
            'D',
          ).exemplar(true),
        ),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Top routes by traffic')
        .height(8)
        .span(12)
        .withTarget(promTable(`topk(10, sum by (http_route) (${RULE.routeFrontendRequests}{${SVC}}))`)),
    )
    .withPanel(
      series('p95 latency by route', 'ms').withTarget(
        promQuery(`${RULE.routeLatency(95)}{${SVC}}`, '{{http_route}}'),
      ),
    )
    .withPanel(
      series('Requests per second by frontend', 'reqps').withTarget(
        promQuery(`sum by (frontend) (${RULE.routeFrontendRequests}{${SVC},${FRONTEND}})`, '{{frontend}}'),
      ),
    );
}
