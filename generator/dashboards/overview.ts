import { RULE } from '../model/rule-names.ts';
import type { Model } from '../model/model.ts';
import { frontendVariable, promQuery, promTable, runbookLink, serviceVariable } from './common.ts';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { FRONTEND, SVC, base, series } from './panels.ts';

/** The overview dashboard: every service's RED metrics and error budgets at a glance. */

export function overview(model: Model) {
  return base(
    model,
    'overview',
    'Operations overview',
    'Golden signals of every service, by frontend; firing alerts.',
  )
    .withVariable(serviceVariable(true))
    .withVariable(frontendVariable())
    .withRow(new dashboard.RowBuilder('Golden signals'))
    .withPanel(
      series('Requests per second by service', 'reqps').withTarget(
        promQuery(
          `sum by (service_name) (${RULE.routeFrontendRequests}{${SVC},${FRONTEND}})`,
          '{{service_name}}',
        ),
      ),
    )
    .withPanel(
      series('Error ratio by service', 'percentunit').withTarget(
        promQuery(`${RULE.serviceErrorRatio}{${SVC}}`, '{{service_name}}'),
      ),
    )
    .withPanel(
      series('p95 latency by service', 'ms').withTarget(
        promQuery(`${RULE.serviceLatency(95)}{${SVC}}`, '{{service_name}}'),
      ),
    )
    .withPanel(
      series('Requests per second by frontend', 'reqps').withTarget(
        promQuery(`sum by (frontend) (${RULE.routeFrontendRequests}{${SVC},${FRONTEND}})`, '{{frontend}}'),
      ),
    )
    .withRow(new dashboard.RowBuilder('SLOs and alerts'))
    .withPanel(
      new stat.PanelBuilder()
        .title('Error budget remaining')
        .unit('percentunit')
        .height(6)
        .span(12)
        .withTarget(promQuery(`${RULE.sloBudgetRemaining}{${SVC}}`, '{{service_name}} {{slo}}')),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Firing alerts (click for the runbook)')
        .height(6)
        .span(12)
        .withTarget(promTable('ALERTS{alertstate="firing"}'))
        .dataLinks([runbookLink(model, 'alertname')]),
    );
}
