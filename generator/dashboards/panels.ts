import type { Model } from '../model/model.ts';
import { dashboardLinks, dashboardUid, environmentVariable, type DashboardName } from './common.ts';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Builders every dashboard shares: the dashboard frame, a time series, the variable selectors. */

export const SVC = 'service_name=~"$service"';
export const FRONTEND = 'frontend=~"$frontend"';

export function base(model: Model, name: DashboardName, title: string, description: string) {
  return new dashboard.DashboardBuilder(`${model.project} · ${title}`)
    .uid(dashboardUid(model, name))
    .description(description)
    .tags([`otelkit-${model.project}`, 'otelkit', name])
    .timezone('utc')
    .time({ from: 'now-6h', to: 'now' })
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(dashboardLinks(model))
    .withVariable(environmentVariable(model));
}

export const series = (title: string, unit: string) =>
  new timeseries.PanelBuilder().title(title).unit(unit).height(8).span(12).fillOpacity(10);
