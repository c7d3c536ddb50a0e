import { RULE } from '../model/rule-names.ts';
import type { Model } from '../model/model.ts';
import { num } from '../model/promql.ts';
import { REFERENCE_PERIOD_MS, burnWindows } from '../model/slo.ts';
import { formatDuration } from '../model/duration.ts';
import { promQuery, promTable, runbookLink, serviceVariable } from './common.ts';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { SVC, base, series } from './panels.ts';

/** The SLO dashboard: budgets, the SLI over the period, and a burn-rate panel per window pair, each SLO on its own windows. */

/**
 * One burn-rate panel per workbook window pair. Each SLO's windows scale with its period, so the
 * query joins every SLO's own recording rule; the factor is the same for every period.
 */
function burnPanels(model: Model) {
  const slos = model.services.flatMap((service) =>
    service.slos.map((s) => ({ service, slo: s, windows: burnWindows(s.periodMs) })),
  );
  return burnWindows(REFERENCE_PERIOD_MS).map((reference, index) => {
    const parts = slos.map(({ service, slo: s, windows }) => {
      const sel = `${SVC},service_name="${service.name}",slo="${s.name}"`;
      return `${RULE.sloErrorRatio(windows[index]!.longMs)}{${sel}} / on (service_name, slo) (1 - ${RULE.sloObjective}{${sel}})`;
    });
    const longs = [...new Set(slos.map(({ windows }) => formatDuration(windows[index]!.longMs)))];
    const scaled =
      longs.length === 1 && longs[0] === reference.name ? '' : `, scaled per SLO period: ${longs.join(', ')}`;
    return series(
      `Burn rate, ${reference.name} window${scaled} (${reference.tier} at ${num(reference.factor)}x)`,
      'x',
    ).withTarget(promQuery(parts.length > 0 ? parts.join(' or ') : 'vector(0)', '{{service_name}} {{slo}}'));
  });
}

export function slo(model: Model) {
  const sel = SVC;
  let built = base(
    model,
    'slo',
    'SLOs and error budgets',
    'Burn rate per alert window and error budget remaining for every SLO.',
  )
    .withVariable(serviceVariable(true))
    .withPanel(
      new stat.PanelBuilder()
        .title('Error budget remaining')
        .unit('percentunit')
        .height(6)
        .span(12)
        .withTarget(promQuery(`${RULE.sloBudgetRemaining}{${sel}}`, '{{service_name}} {{slo}}')),
    )
    .withPanel(
      new stat.PanelBuilder()
        .title('SLI over the SLO period')
        .unit('percentunit')
        .decimals(3)
        .height(6)
        .span(12)
        .withTarget(promQuery(`1 - ${RULE.sloErrorRatioPeriod}{${sel}}`, '{{service_name}} {{slo}}')),
    );
  for (const panel of burnPanels(model)) built = built.withPanel(panel);
  return built.withPanel(
    new table.PanelBuilder()
      .title('SLO alerts firing (click for the runbook)')
      .height(6)
      .span(24)
      .withTarget(promTable('ALERTS{alertstate="firing", alertgroup="slo"}'))
      .dataLinks([runbookLink(model, 'alertname')]),
  );
}
