import { DATASOURCES } from '../dashboards/common.ts';
import { RULE } from '../model/rule-names.ts';
import { buildDashboards } from '../dashboards/dashboards.ts';
import type { Model } from '../model/model.ts';
import type { Artifact, Target } from './artifact.ts';
import { httpUrl } from '../model/topology.ts';

/**
 * Grafana provisioning: datasources with fixed uids wired to each other (exemplars → Tempo,
 * Loki's trace_id structured metadata → Tempo, Tempo → logs, metrics and the service map), the
 * dashboard provider, and the dashboards. `$` is doubled in provisioning files, where Grafana
 * would otherwise expand it as an environment variable.
 */

export const GRAFANA_DASHBOARD_DIR = '/var/lib/grafana/dashboards';

/**
 * Tempo → Loki link. Grafana fills `${__tags}` with the mapped span tags as `label="value"` pairs
 * and `${__span.traceId}` with the span's trace id; `$$` is the provisioning file's literal `$`.
 */
export const TRACES_TO_LOGS_QUERY = '{$${__tags}} | trace_id="$${__span.traceId}"';

export function datasources() {
  const tags = [{ key: 'service.name', value: 'service_name' }];
  return {
    apiVersion: 1,
    prune: true,
    datasources: [
      {
        name: 'Prometheus',
        type: 'prometheus',
        uid: DATASOURCES.prometheus.uid,
        access: 'proxy',
        url: httpUrl('prometheus'),
        isDefault: true,
        editable: false,
        jsonData: {
          httpMethod: 'POST',
          prometheusType: 'Prometheus',
          exemplarTraceIdDestinations: [{ name: 'trace_id', datasourceUid: DATASOURCES.tempo.uid }],
        },
      },
      {
        name: 'Loki',
        type: 'loki',
        uid: DATASOURCES.loki.uid,
        access: 'proxy',
        url: httpUrl('loki'),
        editable: false,
        jsonData: {
          maxLines: 1000,
          derivedFields: [
            {
              name: 'TraceID',
              matcherType: 'label',
              matcherRegex: 'trace_id',
              datasourceUid: DATASOURCES.tempo.uid,
              url: '$${__value.raw}',
              urlDisplayLabel: 'Open trace',
            },
          ],
        },
      },
      {
        name: 'Tempo',
        type: 'tempo',
        uid: DATASOURCES.tempo.uid,
        access: 'proxy',
        url: httpUrl('tempo'),
        editable: false,
        jsonData: {
          tracesToLogsV2: {
            datasourceUid: DATASOURCES.loki.uid,
            tags,
            // Loki keeps an OTLP log's trace_id as structured metadata, not in the line, so the
            // link filters on it as a label; filterByTraceID's line filter finds nothing there
            customQuery: true,
            query: TRACES_TO_LOGS_QUERY,
            filterByTraceID: false,
            filterBySpanID: false,
            spanStartTimeShift: '-5m',
            spanEndTimeShift: '5m',
          },
          tracesToMetrics: {
            datasourceUid: DATASOURCES.prometheus.uid,
            tags,
            spanStartTimeShift: '-5m',
            spanEndTimeShift: '5m',
            queries: [
              { name: 'Request rate', query: `sum(${RULE.serviceRequests}{$$__tags})` },
              { name: 'Error ratio', query: `sum(${RULE.serviceErrorRatio}{$$__tags})` },
              { name: 'p95 latency (ms)', query: `max(${RULE.serviceLatency(95)}{$$__tags})` },
            ],
          },
          serviceMap: { datasourceUid: DATASOURCES.prometheus.uid },
          nodeGraph: { enabled: true },
          search: { hide: false },
          lokiSearch: { datasourceUid: DATASOURCES.loki.uid },
          traceQuery: { timeShiftEnabled: true, spanStartTimeShift: '-1h', spanEndTimeShift: '1h' },
        },
      },
      {
        name: 'Alertmanager',
        type: 'alertmanager',
        uid: DATASOURCES.alertmanager.uid,
        access: 'proxy',
        url: httpUrl('alertmanager'),
        editable: false,
        jsonData: { implementation: 'prometheus', handleGrafanaManagedAlerts: false },
      },
    ],
  };
}

export function dashboardProvider(model: Model) {
  return {
    apiVersion: 1,
    providers: [
      {
        name: `otelkit-${model.project}`,
        folder: model.project,
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 30,
        options: { path: GRAFANA_DASHBOARD_DIR, foldersFromFilesStructure: false },
      },
    ],
  };
}

export const grafanaTarget: Target = {
  name: 'grafana',
  description: 'Grafana datasources, dashboard provider and dashboards',
  generate: (model: Model): Artifact[] => [
    { path: 'grafana/provisioning/datasources/otelkit.yaml', format: 'yaml', content: datasources() },
    {
      path: 'grafana/provisioning/dashboards/otelkit.yaml',
      format: 'yaml',
      content: dashboardProvider(model),
    },
    ...buildDashboards(model).map(({ name, dashboard }): Artifact => ({
      path: `grafana/dashboards/${name}.json`,
      format: 'json',
      content: dashboard,
    })),
  ],
};
