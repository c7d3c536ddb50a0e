import type { Model } from '../model/model.ts';
import { perSignalRate } from '../model/promql.ts';
import { promQuery } from './common.ts';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import { base, series } from './panels.ts';

/** The pipeline dashboard: the Collectors' own health, queues and drops. */

export function pipeline(model: Model) {
  const perSignal = (what: string) => perSignalRate(`otelcol_${what}`, 'signal', '$__rate_interval');
  return base(
    model,
    'pipeline',
    'Telemetry pipeline health',
    'What the Collector accepts, refuses, exports and fails, queue fill, memory, backends up.',
  )
    .withPanel(
      series('Accepted per second', 'short').withTarget(
        promQuery(perSignal('receiver_accepted'), '{{signal}}'),
      ),
    )
    .withPanel(
      series('Refused per second (memory limiter)', 'short').withTarget(
        promQuery(perSignal('receiver_refused'), '{{signal}}'),
      ),
    )
    .withPanel(
      series('Exported per second', 'short').withTarget(promQuery(perSignal('exporter_sent'), '{{signal}}')),
    )
    .withPanel(
      series('Failed sends per second', 'short').withTarget(
        promQuery(perSignal('exporter_send_failed'), '{{signal}}'),
      ),
    )
    .withPanel(
      series('Sending queue fill', 'percentunit').withTarget(
        promQuery(
          'max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)',
          '{{exporter}}',
        ),
      ),
    )
    .withPanel(
      series('Collector memory', 'bytes')
        .withTarget(promQuery('otelcol_process_memory_rss', 'RSS', 'A'))
        .withTarget(promQuery('otelcol_process_runtime_heap_alloc_bytes', 'heap', 'B')),
    )
    .withPanel(
      new stat.PanelBuilder().title('Backends up').height(6).span(24).withTarget(promQuery('up', '{{job}}')),
    );
}
