import type { Model } from '../model/model.ts';
import { serviceMapQuery, serviceVariable, traceqlQuery } from './common.ts';
import * as nodegraph from '@grafana/grafana-foundation-sdk/nodegraph';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { base } from './panels.ts';

/** The traces dashboard: the service map and TraceQL searches. */

export function traces(model: Model) {
  return base(model, 'traces', 'Traces', 'Slowest and failing traces, and the service map, from Tempo.')
    .withVariable(serviceVariable(false))
    .withPanel(
      new table.PanelBuilder()
        .title('Slowest requests')
        .height(10)
        .span(12)
        .withTarget(
          traceqlQuery(
            `{ resource.service.name = "$service" && kind = server && duration > ${model.signals.traces.slowThresholdMs}ms }`,
          ),
        ),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Failing requests')
        .height(10)
        .span(12)
        .withTarget(traceqlQuery('{ resource.service.name = "$service" && status = error }')),
    )
    .withPanel(
      new nodegraph.PanelBuilder().title('Service map').height(12).span(24).withTarget(serviceMapQuery()),
    );
}
