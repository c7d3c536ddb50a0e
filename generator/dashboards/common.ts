import { createHash } from 'node:crypto';
import { RULE } from '../model/rule-names.ts';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as loki from '@grafana/grafana-foundation-sdk/loki';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as tempo from '@grafana/grafana-foundation-sdk/tempo';
import type { Model } from '../model/model.ts';

/** Provisioned datasource uids; panels reference only these (a test checks it). */
export const DATASOURCES = {
  prometheus: { type: 'prometheus', uid: 'otelkit-prometheus' },
  loki: { type: 'loki', uid: 'otelkit-loki' },
  tempo: { type: 'tempo', uid: 'otelkit-tempo' },
  alertmanager: { type: 'alertmanager', uid: 'otelkit-alertmanager' },
} as const;

export const DASHBOARD_NAMES = [
  'overview',
  'service',
  'slo',
  'resilience',
  'traces',
  'logs',
  'pipeline',
] as const;
export type DashboardName = (typeof DASHBOARD_NAMES)[number];

/** Grafana's limit on a dashboard uid. */
export const MAX_UID_LENGTH = 40;

/**
 * `<project>-<dashboard>`; a project too long for that keeps its first characters and a hash of
 * the whole name, so the dashboard part is never cut off and two projects do not share uids.
 */
export function dashboardUid(model: Model, name: DashboardName): string {
  const uid = `${model.project}-${name}`;
  if (uid.length <= MAX_UID_LENGTH) return uid;
  const hash = createHash('sha256').update(model.project).digest('hex').slice(0, 8);
  return `${model.project.slice(0, MAX_UID_LENGTH - name.length - hash.length - 2)}-${hash}-${name}`;
}

export function promQuery(expr: string, legend: string, refId = 'A') {
  return new prometheus.DataqueryBuilder()
    .datasource(DATASOURCES.prometheus)
    .expr(expr)
    .legendFormat(legend)
    .range()
    .refId(refId);
}

export function promTable(expr: string, refId = 'A') {
  return new prometheus.DataqueryBuilder()
    .datasource(DATASOURCES.prometheus)
    .expr(expr)
    .instant()
    .format(prometheus.PromQueryFormat.Table)
    .refId(refId);
}

export function lokiQuery(expr: string, legend = '', refId = 'A') {
  return new loki.DataqueryBuilder()
    .datasource(DATASOURCES.loki)
    .expr(expr)
    .legendFormat(legend)
    .refId(refId);
}

export function traceqlQuery(query: string, limit = 20, refId = 'A') {
  return new tempo.DataqueryBuilder()
    .datasource(DATASOURCES.tempo)
    .queryType('traceql')
    .query(query)
    .limit(limit)
    .tableType(tempo.SearchTableType.Traces)
    .refId(refId);
}

export function serviceMapQuery(refId = 'A') {
  return new tempo.DataqueryBuilder().datasource(DATASOURCES.tempo).queryType('serviceMap').refId(refId);
}

/** Variables shared by the dashboards: environment, service and frontend, from recorded series. */
export function environmentVariable(model: Model) {
  return new dashboard.CustomVariableBuilder('environment')
    .label('Environment')
    .values(model.environment)
    .current({ text: model.environment, value: model.environment });
}

export function serviceVariable(multi: boolean) {
  return new dashboard.QueryVariableBuilder('service')
    .label('Service')
    .datasource(DATASOURCES.prometheus)
    .query({ query: `label_values(${RULE.serviceRequests}, service_name)`, refId: 'service' })
    .definition(`label_values(${RULE.serviceRequests}, service_name)`)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(multi)
    .includeAll(multi)
    .allValue('.+');
}

export function frontendVariable() {
  return new dashboard.QueryVariableBuilder('frontend')
    .label('Frontend')
    .datasource(DATASOURCES.prometheus)
    .query({
      query: `label_values(${RULE.routeFrontendRequests}{service_name=~"$service"}, frontend)`,
      refId: 'frontend',
    })
    .definition(`label_values(${RULE.routeFrontendRequests}{service_name=~"$service"}, frontend)`)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .allValue('.*');
}

/** Links every dashboard carries: the others, by tag, keeping time range and variables. */
export function dashboardLinks(model: Model) {
  return new dashboard.DashboardLinkBuilder('otelkit dashboards')
    .type(dashboard.DashboardLinkType.Dashboards)
    .tags([`otelkit-${model.project}`])
    .asDropdown(true)
    .keepTime(true)
    .includeVars(true);
}

export function runbookLink(model: Model, field: string) {
  const base = model.runbookBaseUrl ?? 'runbooks';
  return new dashboard.DashboardLinkBuilder('Runbook')
    .type(dashboard.DashboardLinkType.Link)
    .url(`${base}/\${__data.fields.${field}}.md`)
    .targetBlank(true);
}
