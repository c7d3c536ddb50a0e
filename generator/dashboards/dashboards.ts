import type { Model } from '../model/model.ts';
import { DATASOURCES, type DashboardName } from './common.ts';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { logsDashboard } from './logs.ts';
import { overview } from './overview.ts';
import { pipeline } from './pipeline.ts';
import { resilience } from './resilience.ts';
import { service } from './service.ts';
import { slo } from './slo.ts';
import { traces } from './traces.ts';

/**
 * The dashboards, built with the Grafana Foundation SDK from the same names as the rules: every
 * PromQL here reads a recording rule from alerting/catalogue.ts or a metric the stack produces.
 */

export function buildDashboards(model: Model): { name: DashboardName; dashboard: dashboard.Dashboard }[] {
  const builders: [DashboardName, dashboard.DashboardBuilder][] = [
    ['overview', overview(model)],
    ['service', service(model)],
    ['slo', slo(model)],
    ['resilience', resilience(model)],
    ['traces', traces(model)],
    ['logs', logsDashboard(model)],
    ['pipeline', pipeline(model)],
  ];
  return builders.map(([name, builder]) => ({ name, dashboard: builder.build() }));
}

export { DATASOURCES };
