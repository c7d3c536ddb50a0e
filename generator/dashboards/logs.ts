import type { Model } from '../model/model.ts';
import { lokiQuery, serviceVariable } from './common.ts';
import * as logs from '@grafana/grafana-foundation-sdk/logs';
import { SVC, base, series } from './panels.ts';

/** The logs dashboard: Loki streams by class, with trace links. */

export function logsDashboard(model: Model) {
  return base(model, 'logs', 'Logs', 'Error logs with trace links, and log volume by level, from Loki.')
    .withVariable(serviceVariable(true))
    .withPanel(
      series('Log lines per second by level', 'short')
        .span(24)
        .withTarget(lokiQuery(`sum by (severity_text) (rate({${SVC}}[$__auto]))`, '{{severity_text}}')),
    )
    .withPanel(
      new logs.PanelBuilder()
        .title('Errors (trace_id links to Tempo)')
        .height(12)
        .span(24)
        .showTime(true)
        .wrapLogMessage(true)
        .withTarget(lokiQuery(`{${SVC}} | severity_text=~"(?i)error|fatal"`)),
    )
    .withPanel(
      new logs.PanelBuilder()
        .title('Resilience events')
        .height(8)
        .span(24)
        .showTime(true)
        .withTarget(lokiQuery(`{${SVC}} | resilience_event!=""`)),
    );
}
