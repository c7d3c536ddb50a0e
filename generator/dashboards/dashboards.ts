import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { RULE } from '../alerting/rule-names.ts';
import * as logs from '@grafana/grafana-foundation-sdk/logs';
import * as nodegraph from '@grafana/grafana-foundation-sdk/nodegraph';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { SPAN_METRICS } from '../conventions.ts';
import type { Model } from '../model.ts';
import { REQUEST_KINDS_RE, num, perSignalRate } from '../alerting/promql.ts';
import { REFERENCE_PERIOD_MS, burnWindows } from '../slo.ts';
import { formatDuration } from '../spec/duration.ts';
import {
  DATASOURCES,
  dashboardLinks,
  dashboardUid,
  environmentVariable,
  frontendVariable,
  lokiQuery,
  promQuery,
  promTable,
  runbookLink,
  serviceMapQuery,
  serviceVariable,
  traceqlQuery,
  type DashboardName,
} from './common.ts';

/**
 * The dashboards, built with the Grafana Foundation SDK from the same names as the rules: every
 * PromQL here reads a recording rule from alerting/catalogue.ts or a metric the stack produces.
 */

const SVC = 'service_name=~"$service"';
const FRONTEND = 'frontend=~"$frontend"';

function base(model: Model, name: DashboardName, title: string, description: string) {
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

const series = (title: string, unit: string) =>
  new timeseries.PanelBuilder().title(title).unit(unit).height(8).span(12).fillOpacity(10);

function overview(model: Model) {
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

function service(model: Model) {
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

function slo(model: Model) {
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

/** Events per second of one resilience counter, per calling service and dependency. */
const dependencyRate = (title: string, metric: string) =>
  series(title, 'ops').withTarget(
    promQuery(
      `sum by (service_name, dependency) (rate(${metric}{${SVC}}[$__rate_interval]))`,
      '{{service_name}} → {{dependency}}',
    ),
  );

/** The standard's encoding of `circuit_breaker_state`, shown as green, yellow and red. */
const BREAKER_STATE_MAPPING: dashboard.ValueMapping = {
  type: dashboard.MappingType.ValueToText,
  options: {
    '0': { text: 'closed', color: 'green', index: 0 },
    '1': { text: 'half-open', color: 'yellow', index: 1 },
    '2': { text: 'open', color: 'red', index: 2 },
  },
};

function resilience(model: Model) {
  const dep = SVC;
  return base(
    model,
    'resilience',
    'Resilience',
    'Circuit breakers, retries, timeouts, bulkheads and worker pools per dependency.',
  )
    .withVariable(serviceVariable(true))
    .withPanel(
      new statetimeline.PanelBuilder()
        .title('Circuit breaker state')
        .height(8)
        .span(24)
        .mappings([BREAKER_STATE_MAPPING])
        .withTarget(
          promQuery(
            `max by (service_name, dependency) (circuit_breaker_state{${dep}})`,
            '{{service_name}} → {{dependency}}',
          ),
        ),
    )
    .withPanel(
      series('Breaker transitions per second', 'ops').withTarget(
        promQuery(
          `sum by (dependency, from_state, to_state) (rate(circuit_breaker_transitions_total{${dep}}[$__rate_interval]))`,
          '{{dependency}} {{from_state}}→{{to_state}}',
        ),
      ),
    )
    .withPanel(dependencyRate('Retries per second', 'retry_attempts_total'))
    .withPanel(dependencyRate('Timeouts per second', 'timeout_exceeded_total'))
    .withPanel(dependencyRate('Bulkhead rejections per second', 'bulkhead_rejections_total'))
    .withPanel(
      // executor_* are per pool type (thread/process) in the standard, not per dependency
      series('Worker pool use', 'percentunit')
        .withTarget(
          promQuery(
            `max by (service_name, pool_type) (executor_active_workers{${dep}}) / max by (service_name, pool_type) (executor_max_workers{${dep}})`,
            '{{service_name}} {{pool_type}} pool busy',
            'A',
          ),
        )
        .withTarget(
          promQuery(
            `sum by (service_name, pool_type) (executor_pending_tasks{${dep}})`,
            '{{service_name}} {{pool_type}} pool pending',
            'B',
          ),
        ),
    )
    .withPanel(
      series('Bulkhead permits free', 'short').withTarget(
        promQuery(
          `min by (service_name, dependency) (semaphore_available{${dep}})`,
          '{{service_name}} → {{dependency}}',
        ),
      ),
    );
}

function traces(model: Model) {
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

function logsDashboard(model: Model) {
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

function pipeline(model: Model) {
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
