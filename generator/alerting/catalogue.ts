import { SPAN_METRICS } from '../conventions.ts';
import type { DependencyModel, Model, ServiceModel, SloModel } from '../model.ts';
import { budgetSpent, burnWindows, errorRatioThreshold, sloWindowsMs, type BurnWindow } from '../slo.ts';
import { HOUR_MS, formatDuration, formatGoDuration } from '../spec/duration.ts';
import {
  PLATFORM_TEAM,
  REQUESTS_PER_STEP,
  annotations,
  counter,
  gauge,
  pascal,
  seriesLabels,
  stepsFor,
  type AlertCase,
  type AlertDefinition,
  type Catalogue,
  type RecordingRule,
  type RuleFile,
  type RunbookStep,
  type SeriesInput,
  type Severity,
} from './definitions.ts';
import { pipelineAlerts } from './pipeline.ts';
import { ERROR_STATUS, REQUEST_KINDS_RE, num, requestMatchers, requestSpanKind, selector } from './promql.ts';
import { BACKEND_JOBS } from './scrape-jobs.ts';
import { watchdogAlerts } from './watchdog.ts';
import { LATENCY_QUANTILES, RULE } from './rule-names.ts';
import { address } from '../topology.ts';

// targets and tests read the shared vocabulary from the catalogue, as before the split
export * from './definitions.ts';
export { BACKEND_JOBS } from './scrape-jobs.ts';

/**
 * Every recording rule and alert, with the promtool cases that prove each alert and the facts its
 * runbook needs. Rule files, unit tests, runbooks and dashboards all read this one catalogue, so
 * a name can never differ between them.
 *
 * Recording rules follow Prometheus's `level:metric:operations` convention:
 *   service:requests:rate5m, service_route_frontend:request_errors:rate5m,
 *   service:request_duration_ms:p95_5m, slo:sli_error:ratio_rate1h, slo:error_budget_remaining:ratio.
 */

// ---------------------------------------------------------------------------------------------
// Shared recording rules (all services at once)

function sharedRecording(): RecordingRule[] {
  const requests = selector({ span_kind: { re: REQUEST_KINDS_RE } });
  const errors = selector({ span_kind: { re: REQUEST_KINDS_RE }, status_code: ERROR_STATUS });
  const calls = SPAN_METRICS.calls;
  const rules: RecordingRule[] = [
    { record: RULE.serviceRequests, expr: `sum by (service_name) (rate(${calls}${requests}[5m]))` },
    {
      record: RULE.serviceErrors,
      expr: `sum by (service_name) (rate(${calls}${errors}[5m]))`,
    },
    {
      record: RULE.serviceErrorRatio,
      expr: `(${RULE.serviceErrors} or ${RULE.serviceRequests} * 0) / ${RULE.serviceRequests}`,
    },
    {
      record: RULE.routeFrontendRequests,
      expr: `sum by (service_name, http_route, frontend) (rate(${calls}${requests}[5m]))`,
    },
    {
      record: RULE.routeFrontendErrors,
      expr: `sum by (service_name, http_route, frontend) (rate(${calls}${errors}[5m]))`,
    },
  ];
  for (const quantile of LATENCY_QUANTILES) {
    rules.push({
      record: RULE.serviceLatency(quantile),
      expr: `histogram_quantile(${quantile / 100}, sum by (service_name, le) (rate(${SPAN_METRICS.durationBucket}${requests}[5m])))`,
    });
    rules.push({
      record: RULE.routeLatency(quantile),
      expr: `histogram_quantile(${quantile / 100}, sum by (service_name, http_route, le) (rate(${SPAN_METRICS.durationBucket}${requests}[5m])))`,
    });
  }
  return rules;
}

// ---------------------------------------------------------------------------------------------
// SLOs

function sloErrorExpr(service: ServiceModel, slo: SloModel, window: string): string {
  const matchers = requestMatchers(service, slo.routes);
  if (slo.kind === 'availability') {
    const errors = selector({ ...matchers, status_code: ERROR_STATUS });
    return `(sum(rate(${SPAN_METRICS.calls}${errors}[${window}])) or vector(0)) / sum(rate(${SPAN_METRICS.calls}${selector(matchers)}[${window}]))`;
  }
  const le = num(slo.thresholdMs!);
  const fast = selector({ ...matchers, le });
  return `1 - (sum(rate(${SPAN_METRICS.durationBucket}${fast}[${window}])) / sum(rate(${SPAN_METRICS.durationCount}${selector(matchers)}[${window}])))`;
}

function sloRequestsExpr(service: ServiceModel, slo: SloModel, window: string): string {
  const matchers = requestMatchers(service, slo.routes);
  const metricName = slo.kind === 'availability' ? SPAN_METRICS.calls : SPAN_METRICS.durationCount;
  return `sum(rate(${metricName}${selector(matchers)}[${window}]))`;
}

/** Windows whose request rate the burn alerts' traffic guards read: 1h for the per-hour floor, and each long window. */
function sloRequestWindowsMs(slo: SloModel): number[] {
  return [...new Set([HOUR_MS, ...burnWindows(slo.periodMs).map((w) => w.longMs)])].sort((a, b) => a - b);
}

function sloRecording(service: ServiceModel, slo: SloModel): RecordingRule[] {
  const labels = { service_name: service.name, slo: slo.name };
  const windows = [...new Set([...sloWindowsMs(slo.periodMs), slo.periodMs])];
  return [
    ...windows.map((ms) => ({
      record: RULE.sloErrorRatio(ms),
      expr: sloErrorExpr(service, slo, formatDuration(ms)),
      labels,
    })),
    {
      record: RULE.sloErrorRatioPeriod,
      expr: `${RULE.sloErrorRatio(slo.periodMs)}${selector(labels)}`,
      labels,
    },
    ...sloRequestWindowsMs(slo).map((ms) => ({
      record: RULE.sloRequests(ms),
      expr: sloRequestsExpr(service, slo, formatDuration(ms)),
      labels,
    })),
    { record: RULE.sloObjective, expr: `vector(${num(slo.objective)})`, labels },
    {
      record: RULE.sloBudgetRemaining,
      expr: `1 - (${RULE.sloErrorRatioPeriod}${selector(labels)} / ${num(1 - slo.objective)})`,
      labels,
    },
  ];
}

/** Representative series labels of one request of the SLI (first SLO route, else first route). */
function requestSeriesLabels(service: ServiceModel, slo?: SloModel) {
  const route = slo?.routes?.[0] ?? service.routes[0];
  return {
    service_name: service.name,
    span_kind: requestSpanKind(service),
    ...(route ? { http_route: route } : {}),
  };
}

function sloSeries(
  service: ServiceModel,
  slo: SloModel,
  errorsPerStep: number[],
  steps: number[],
): SeriesInput[] {
  const base = requestSeriesLabels(service, slo);
  const total = REQUESTS_PER_STEP;
  const counterOf = (perSteps: number[]) => {
    const [first, second] = perSteps;
    return counter(
      first!,
      steps[0]!,
      second === undefined ? undefined : { perStep: second, steps: steps[1]! },
    );
  };
  if (slo.kind === 'availability') {
    return [
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: 'STATUS_CODE_UNSET' })}`,
        values: counterOf(errorsPerStep.map((e) => total - e)),
      },
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: ERROR_STATUS })}`,
        values: counterOf(errorsPerStep),
      },
    ];
  }
  const le = num(slo.thresholdMs!);
  return [
    {
      series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le })}`,
      values: counterOf(errorsPerStep.map((e) => total - e)),
    },
    {
      series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le: '+Inf' })}`,
      values: counterOf(errorsPerStep.map(() => total)),
    },
    {
      series: `${SPAN_METRICS.durationCount}${seriesLabels(base)}`,
      values: counterOf(errorsPerStep.map(() => total)),
    },
  ];
}

/**
 * A quiet SLO: `goodPerStep` good requests a step and one failed request at `errorStep`, as
 * separate counters so the failure is exactly one request.
 */
export function oneFailureSeries(
  service: ServiceModel,
  slo: SloModel,
  goodPerStep: number,
  errorStep: number,
  steps: number,
): SeriesInput[] {
  const base = requestSeriesLabels(service, slo);
  const good = counter(goodPerStep, steps);
  const all = `0+${num(goodPerStep)}x${errorStep - 1} ${num(goodPerStep * errorStep + 1)}+${num(goodPerStep)}x${steps - errorStep}`;
  const bad = `0x${errorStep - 1} 1x${steps - errorStep}`;
  if (slo.kind === 'availability')
    return [
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: 'STATUS_CODE_UNSET' })}`,
        values: good,
      },
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: ERROR_STATUS })}`,
        values: bad,
      },
    ];
  const le = num(slo.thresholdMs!);
  return [
    { series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le })}`, values: good },
    { series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le: '+Inf' })}`, values: all },
    { series: `${SPAN_METRICS.durationCount}${seriesLabels(base)}`, values: all },
  ];
}

/**
 * The burn expression. The long window discounts one failed request, (bad − 1) / requests, so a
 * single failure never fires at any traffic, while a real burn at low traffic still does; the
 * short window only confirms the burn is still going on.
 */
export function burnExpr(model: Model, service: ServiceModel, slo: SloModel, window: BurnWindow): string {
  const sel = selector({ service_name: service.name, slo: slo.name });
  const threshold = num(errorRatioThreshold(window, slo.objective));
  return (
    `(${RULE.sloErrorRatio(window.longMs)}${sel} - 1 / (${RULE.sloRequests(window.longMs)}${sel} * ${num(window.longMs / 1000)})) > ${threshold}` +
    ` and ${RULE.sloErrorRatio(window.shortMs)}${sel} > ${threshold}` +
    ` and on (service_name, slo) (${RULE.sloRequests(HOUR_MS)}${sel} * 3600 >= ${model.alerting.slo_min_requests_per_hour})`
  );
}

function burnAlert(model: Model, service: ServiceModel, slo: SloModel, window: BurnWindow): AlertDefinition {
  const name = `${pascal(service.name)}${pascal(slo.name)}BurnRate${pascal(window.name)}`;
  const { factor } = window;
  const threshold = errorRatioThreshold(window, slo.objective);
  const labels = { service_name: service.name, slo: slo.name };
  const long = formatDuration(window.longMs);
  const short = formatDuration(window.shortMs);
  const expr = burnExpr(model, service, slo, window);

  // four samples in the short window at least, as the spec rule demands of real scrapes
  const intervalMs = Math.min(
    window.tier === 'page' ? 60_000 : 5 * 60_000,
    Math.floor(window.shortMs / 4 / 1000) * 1000,
  );
  const interval = formatDuration(intervalMs);
  const fireFor = window.longMs + window.forMs + 4 * intervalMs;
  const fireSteps = stepsFor(fireFor, intervalMs);
  // just over and just under the workbook burn rate, so the cases pin the factor itself
  const fireErrors = Math.round(REQUESTS_PER_STEP * Math.min(threshold * 1.1, (1 + threshold) / 2));
  const underErrors = Math.floor(REQUESTS_PER_STEP * threshold * 0.9);
  // The resolve case burns well over the threshold, so that after the short window has emptied the
  // long window (and any wider short window) would still fire: it is the short window that resets it.
  const resolveErrors = Math.round(REQUESTS_PER_STEP * Math.min(threshold * 3, (1 + threshold) / 2));
  const resolveAfter = window.shortMs + 4 * intervalMs;
  const at = (ms: number) => formatDuration(Math.round(ms / intervalMs) * intervalMs);
  const what =
    slo.kind === 'availability'
      ? 'failed requests'
      : `requests slower than ${formatDuration(slo.thresholdMs!)}`;

  // One failure among so few requests that, alone, it is over the threshold in both windows,
  // at a traffic the per-hour floor lets through: without the discount this would fire.
  const quietRequests = Math.floor(1 / (threshold * 1.1));
  const quietPerStep = (quietRequests * intervalMs) / window.longMs;
  const failureAge = window.forMs + 2 * intervalMs;
  const quietCase: AlertCase[] =
    quietPerStep * (HOUR_MS / intervalMs) >= Math.max(1, model.alerting.slo_min_requests_per_hour) &&
    failureAge < window.shortMs
      ? [
          {
            name: 'stays silent on one failed request at low traffic',
            interval,
            input: oneFailureSeries(
              service,
              slo,
              quietPerStep,
              stepsFor(fireFor - failureAge, intervalMs),
              fireSteps,
            ),
            checks: [{ at: at(fireFor), firing: false }],
          },
        ]
      : [];

  return {
    file: `slo-${service.name}`,
    exprLabels: labels,
    testEvaluation: window.tier === 'page' ? '1m' : '5m',
    rule: {
      alert: name,
      expr,
      for: formatDuration(window.forMs),
      labels: {
        severity: window.severity,
        tier: window.tier,
        window: long,
        team: service.team,
        alertgroup: 'slo',
      },
      annotations: annotations(
        model,
        name,
        `${service.name} is burning its ${slo.name} error budget ${num(factor)}x faster than sustainable.`,
        `{{ $labels.service_name }}: ${what} over both the last ${long} and ${short} exceed ${num(Number((threshold * 100).toPrecision(4)))}% ` +
          `(objective ${num(slo.objective * 100)}% over ${formatDuration(slo.periodMs)}); at this rate ${num(Number((budgetSpent(window, slo.periodMs) * 100).toPrecision(3)))}% of the {{ $labels.slo }} budget is gone within ${long}.`,
      ),
    },
    cases: [
      {
        name: 'fires',
        interval,
        input: sloSeries(service, slo, [fireErrors], [fireSteps]),
        checks: [{ at: at(fireFor), firing: true }],
      },
      {
        name: 'stays silent just under the threshold',
        interval,
        input: sloSeries(service, slo, [underErrors], [fireSteps]),
        checks: [{ at: at(fireFor), firing: false }],
      },
      {
        name: 'resolves once the short window recovers',
        interval,
        input: sloSeries(service, slo, [resolveErrors, 0], [fireSteps, stepsFor(resolveAfter, intervalMs)]),
        checks: [
          { at: at(fireFor), firing: true },
          { at: at(fireFor + resolveAfter), firing: false },
        ],
      },
      ...quietCase,
    ],
    runbook: {
      service,
      meaning: `${service.name} is consuming its ${slo.name} error budget (objective ${num(slo.objective * 100)}% over ${formatDuration(slo.periodMs)}) ${num(factor)} times faster than the budget allows, measured over both ${long} and ${short} (the SRE workbook's ${window.name} window pair for a 30-day SLO, scaled to this SLO's period); at this rate ${num(Number((budgetSpent(window, slo.periodMs) * 100).toPrecision(3)))}% of the budget goes within ${long}. One failed request never fires it: the ${long} ratio counts one failure less, so a quiet service pages only on a real burn. ${window.tier === 'page' ? 'At this rate the whole budget is gone in days: act now.' : 'This is a slow burn: fix it within working hours before the budget runs out.'}`,
      causes:
        slo.kind === 'availability'
          ? [
              'A recent deploy or configuration change introduced failures.',
              'A critical dependency is failing or timing out.',
              'Traffic from one frontend hits a broken route.',
              'Resource exhaustion (memory, connection pool, event loop).',
            ]
          : [
              `A slow dependency (database, cache, external API) adds latency beyond ${formatDuration(slo.thresholdMs!)}.`,
              'Saturation: too little capacity for the current traffic.',
              'A recent deploy added work on the request path.',
            ],
      steps: sloSteps(service, slo, window.longMs),
      resolution: [
        'Roll back the most recent deploy if the burn started with it.',
        'If one dependency is at fault, fail over, shed load or open its circuit breaker deliberately.',
        'Once the burn rate is below 1x, record the budget spent in the incident notes.',
      ],
    },
  };
}

function sloSteps(service: ServiceModel, slo: SloModel, windowMs: number): RunbookStep[] {
  const sel = selector({ service_name: service.name, slo: slo.name });
  const steps: RunbookStep[] = [
    {
      text: 'How fast is the budget burning, per window?',
      language: 'promql',
      code: `${RULE.sloErrorRatio(windowMs)}${sel}`,
    },
    { text: 'How much budget is left?', language: 'promql', code: `${RULE.sloBudgetRemaining}${sel}` },
    {
      text: 'Which routes and frontends are failing?',
      language: 'promql',
      code: `topk(10, ${RULE.routeFrontendErrors}{service_name="${service.name}"})`,
    },
  ];
  if (slo.kind === 'latency') {
    steps.push({
      text: 'Which routes are slow (p99, ms)?',
      language: 'promql',
      code: `topk(10, ${RULE.routeLatency(99)}{service_name="${service.name}"})`,
    });
    steps.push({
      text: 'Find slow traces in Tempo (Grafana Explore, Tempo):',
      language: 'traceql',
      code: `{ resource.service.name = "${service.name}" && kind = server && duration > ${formatGoDuration(slo.thresholdMs!)} }`,
    });
  } else {
    steps.push({
      text: 'Find failing traces in Tempo (Grafana Explore, Tempo):',
      language: 'traceql',
      code: `{ resource.service.name = "${service.name}" && status = error }`,
    });
  }
  steps.push(...commonServiceSteps(service));
  return steps;
}

function commonServiceSteps(service: ServiceModel): RunbookStep[] {
  return [
    {
      text: 'Error logs with their trace and request ids (Grafana Explore, Loki):',
      language: 'logql',
      code: `{service_name="${service.name}"} | severity_text=~"(?i)error|fatal"`,
    },
    {
      text: 'On a host running the service, pull the same from its JSON log lines:',
      language: 'sh',
      code: `docker compose logs --no-log-prefix ${service.name} | jq -c 'select(.level == "error") | {timestamp, request_id, trace_id, message}'`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Golden signals and missing telemetry, per service

function errorRateAlert(model: Model, service: ServiceModel): AlertDefinition {
  const name = `${pascal(service.name)}HighErrorRate`;
  const threshold = 0.05;
  const base = requestSeriesLabels(service);
  const fireSteps = 20;
  const series = (errors: number[], steps: number[]) => {
    const [first, second] = errors;
    const c = (perSteps: number[]) =>
      counter(
        perSteps[0]!,
        steps[0]!,
        second === undefined ? undefined : { perStep: perSteps[1]!, steps: steps[1]! },
      );
    return [
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: 'STATUS_CODE_UNSET' })}`,
        values: c([1000 - first!, ...(second === undefined ? [] : [1000 - second])]),
      },
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: ERROR_STATUS })}`,
        values: c(errors),
      },
    ];
  };
  return {
    file: 'golden-signals',
    exprLabels: { service_name: service.name },
    testEvaluation: '1m',
    rule: {
      alert: name,
      expr: `${RULE.serviceErrorRatio}{service_name="${service.name}"} > ${threshold}`,
      for: '10m',
      labels: { severity: 'warning', team: service.team, alertgroup: 'golden-signals' },
      annotations: annotations(
        model,
        name,
        `More than ${threshold * 100}% of ${service.name} requests fail.`,
        '{{ $labels.service_name }} has failed more than 5% of its requests for 10 minutes; see the service dashboard for the routes and frontends affected.',
      ),
    },
    cases: [
      {
        name: 'fires',
        interval: '1m',
        input: series([100], [fireSteps]),
        checks: [{ at: '18m', firing: true }],
      },
      {
        name: 'stays silent just under the threshold',
        interval: '1m',
        input: series([45], [fireSteps]),
        checks: [{ at: '18m', firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: series([100, 0], [fireSteps, 15]),
        checks: [
          { at: '18m', firing: true },
          { at: '30m', firing: false },
        ],
      },
    ],
    runbook: {
      service,
      meaning: `More than ${threshold * 100}% of ${service.name}'s requests have failed for 10 minutes. This is a symptom alert independent of SLOs.`,
      causes: ['A bad deploy.', 'A failing dependency.', 'Malformed traffic from one frontend.'],
      steps: [
        {
          text: 'Error ratio now:',
          language: 'promql',
          code: `${RULE.serviceErrorRatio}{service_name="${service.name}"}`,
        },
        {
          text: 'Errors by route and frontend:',
          language: 'promql',
          code: `topk(10, ${RULE.routeFrontendErrors}{service_name="${service.name}"})`,
        },
        {
          text: 'Failing traces:',
          language: 'traceql',
          code: `{ resource.service.name = "${service.name}" && status = error }`,
        },
        ...commonServiceSteps(service),
      ],
      resolution: [
        'Roll back a recent deploy.',
        'Mitigate the failing dependency.',
        'Block abusive traffic.',
      ],
    },
  };
}

function latencyAlert(model: Model, service: ServiceModel): AlertDefinition {
  const name = `${pascal(service.name)}HighLatency`;
  const slow = model.signals.traces.slowThresholdMs;
  const buckets = model.signals.metrics.histogramBucketsMs;
  const index = buckets.indexOf(slow);
  const below = buckets[index - 1];
  const above = buckets[index + 1]!;
  const base = requestSeriesLabels(service);
  // all requests in one bucket: above the threshold fires, at or below it stays silent
  const series = (bucketOf: (le: number) => number[], steps: number[]) =>
    [...(below !== undefined ? [below] : []), slow, above, Infinity].map((le) => {
      const perSteps = bucketOf(le);
      return {
        series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le: le === Infinity ? '+Inf' : num(le) })}`,
        values: counter(
          perSteps[0]!,
          steps[0]!,
          perSteps[1] === undefined ? undefined : { perStep: perSteps[1], steps: steps[1]! },
        ),
      };
    });
  const slowPattern = (le: number) => (le >= above ? 100 : 0);
  const fastPattern = (le: number) => (le >= slow ? 100 : 0);
  return {
    file: 'golden-signals',
    exprLabels: { service_name: service.name },
    testEvaluation: '1m',
    rule: {
      alert: name,
      expr: `${RULE.serviceLatency(95)}{service_name="${service.name}"} > ${num(slow)}`,
      for: '10m',
      labels: { severity: 'warning', team: service.team, alertgroup: 'golden-signals' },
      annotations: annotations(
        model,
        name,
        `${service.name} p95 latency is above ${formatDuration(slow)}.`,
        `{{ $labels.service_name }} has answered 5% of its requests slower than ${formatDuration(slow)} for 10 minutes; slow traces are all kept by tail sampling.`,
      ),
    },
    cases: [
      {
        name: 'fires',
        interval: '1m',
        input: series((le) => [slowPattern(le)], [20]),
        checks: [{ at: '18m', firing: true }],
      },
      {
        name: 'stays silent just under the threshold',
        interval: '1m',
        input: series((le) => [fastPattern(le)], [20]),
        checks: [{ at: '18m', firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: series((le) => [slowPattern(le), fastPattern(le)], [20, 15]),
        checks: [
          { at: '18m', firing: true },
          { at: '30m', firing: false },
        ],
      },
    ],
    runbook: {
      service,
      meaning: `${service.name}'s 95th percentile latency has been above ${formatDuration(slow)} (the slow-trace threshold) for 10 minutes.`,
      causes: [
        'A slow dependency.',
        'CPU or event-loop saturation.',
        'A deploy that added work on the hot path.',
      ],
      steps: [
        {
          text: 'p95 by route (ms):',
          language: 'promql',
          code: `topk(10, ${RULE.routeLatency(95)}{service_name="${service.name}"})`,
        },
        {
          text: 'Slow traces (tail sampling keeps every one of them):',
          language: 'traceql',
          code: `{ resource.service.name = "${service.name}" && kind = server && duration > ${formatGoDuration(slow)} }`,
        },
        ...commonServiceSteps(service),
      ],
      resolution: [
        'Scale out or shed load.',
        'Fix or bypass the slow dependency.',
        'Roll back a recent deploy.',
      ],
    },
  };
}

function telemetryMissingAlert(model: Model, service: ServiceModel): AlertDefinition {
  const name = `${pascal(service.name)}TelemetryMissing`;
  const present = `${SPAN_METRICS.calls}${seriesLabels({ service_name: service.name, span_kind: requestSpanKind(service) })}`;
  const other = `${SPAN_METRICS.calls}${seriesLabels({ service_name: 'some-other-service', span_kind: 'SPAN_KIND_SERVER' })}`;
  return {
    file: 'golden-signals',
    exprLabels: { service_name: service.name },
    testEvaluation: '1m',
    rule: {
      alert: name,
      expr: `absent_over_time(${SPAN_METRICS.calls}{service_name="${service.name}"}[15m])`,
      for: '5m',
      labels: { severity: 'warning', team: service.team, alertgroup: 'golden-signals' },
      annotations: annotations(
        model,
        name,
        `No request telemetry from ${service.name} for 15 minutes.`,
        'No span metrics for {{ $labels.service_name }} arrived for 15 minutes: the service is down or idle, or its telemetry does not reach the Collector, so its SLO alerts cannot fire.',
      ),
    },
    cases: [
      {
        name: 'fires',
        interval: '1m',
        input: [{ series: other, values: counter(10, 40) }],
        checks: [{ at: '25m', firing: true }],
      },
      {
        name: 'stays silent while telemetry arrives',
        interval: '1m',
        input: [{ series: present, values: counter(10, 40) }],
        checks: [{ at: '25m', firing: false }],
      },
      {
        name: 'resolves when telemetry returns',
        interval: '1m',
        input: [{ series: present, values: `_x25 0+10x20` }],
        checks: [
          { at: '24m', firing: true },
          { at: '35m', firing: false },
        ],
      },
    ],
    runbook: {
      service,
      meaning: `Prometheus has received no span metrics for ${service.name} for 15 minutes. Without them its SLO and golden-signal alerts are blind.`,
      causes: [
        'The service is down or receives no traffic.',
        'The app does not export telemetry (preload missing, OTEL_SDK_DISABLED set, wrong OTEL_EXPORTER_OTLP_ENDPOINT).',
        'The Collector is down or refusing data (see the pipeline alerts).',
      ],
      steps: [
        {
          text: 'Last time the service reported:',
          language: 'promql',
          code: `timestamp(${SPAN_METRICS.calls}{service_name="${service.name}"})`,
        },
        {
          text: 'Is the Collector receiving spans at all?',
          language: 'promql',
          code: 'sum by (receiver) (rate(otelcol_receiver_accepted_spans[5m]))',
        },
        {
          text: 'Recent traces of the service:',
          language: 'traceql',
          code: `{ resource.service.name = "${service.name}" }`,
        },
        ...commonServiceSteps(service),
      ],
      resolution: [
        'Restart the service or the Collector.',
        'Fix the OTLP endpoint in the service environment.',
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Resilience, per dependency (metric names from the observability contract)

function resilienceAlerts(
  model: Model,
  service: ServiceModel,
  dependency: DependencyModel,
): AlertDefinition[] {
  const out: AlertDefinition[] = [];
  const labels = { service_name: service.name, dependency: dependency.name };
  const sel = selector(labels);
  const prefix = `${pascal(service.name)}${pascal(dependency.name)}`;
  const common = (severity: Severity) => ({ severity, team: service.team, alertgroup: 'resilience' });
  const depSteps = (metricName: string): RunbookStep[] => [
    { text: `The metric behind this alert:`, language: 'promql', code: `${metricName}${sel}` },
    {
      text: 'Traces of failing calls to the dependency:',
      language: 'traceql',
      code: `{ resource.service.name = "${service.name}" && kind = client && status = error }`,
    },
    {
      text: 'Resilience events in the logs:',
      language: 'logql',
      code: `{service_name="${service.name}"} | dependency="${dependency.name}" | resilience_event!=""`,
    },
    ...commonServiceSteps(service).slice(1),
  ];

  const rateCases = (metricName: string, fire: number, under: number, at = '18m'): AlertCase[] => {
    const series = `${metricName}${seriesLabels(labels)}`;
    return [
      {
        name: 'fires',
        interval: '1m',
        input: [{ series, values: counter(fire, 25) }],
        checks: [{ at, firing: true }],
      },
      {
        name: 'stays silent just under the threshold',
        interval: '1m',
        input: [{ series, values: counter(under, 25) }],
        checks: [{ at, firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: [{ series, values: counter(fire, 20, { perStep: 0, steps: 15 }) }],
        checks: [
          { at, firing: true },
          { at: '32m', firing: false },
        ],
      },
    ];
  };

  if (dependency.circuitBreaker) {
    const name = `${prefix}CircuitBreakerOpen`;
    const series = `circuit_breaker_state${seriesLabels(labels)}`;
    out.push({
      file: 'resilience',
      exprLabels: labels,
      testEvaluation: '1m',
      rule: {
        alert: name,
        // the standard's encoding: 0 closed, 1 half-open, 2 open; an open breaker pages
        expr: `max by (service_name, dependency) (circuit_breaker_state${sel}) == 2`,
        for: '1m',
        labels: common('critical'),
        annotations: annotations(
          model,
          name,
          `${service.name}'s circuit breaker for ${dependency.name} is open.`,
          '{{ $labels.service_name }} stopped calling {{ $labels.dependency }} because too many calls failed; calls fail fast or use their fallback until a half-open probe succeeds.',
        ),
      },
      cases: [
        {
          name: 'fires',
          interval: '1m',
          input: [{ series, values: gauge(2, 10) }],
          checks: [{ at: '5m', firing: true }],
        },
        {
          name: 'stays silent while half-open',
          interval: '1m',
          input: [{ series, values: gauge(1, 10) }],
          checks: [{ at: '5m', firing: false }],
        },
        {
          name: 'resolves when the breaker closes',
          interval: '1m',
          input: [{ series, values: gauge(2, 6, { value: 0, steps: 6 }) }],
          checks: [
            { at: '5m', firing: true },
            { at: '9m', firing: false },
          ],
        },
      ],
      runbook: {
        service,
        meaning: `More than ${num(dependency.circuitBreaker.failureRateThreshold * 100)}% of ${service.name}'s calls to ${dependency.name} failed, so its circuit breaker opened; it probes again after ${formatDuration(dependency.circuitBreaker.openDurationMs)}.${dependency.critical ? ` ${dependency.name} is critical: ${service.name} reports not ready while the breaker is open.` : ''}`,
        causes: [
          `${dependency.name} is down, overloaded or unreachable.`,
          'Timeouts are too tight for its current latency.',
        ],
        steps: depSteps('circuit_breaker_state'),
        resolution: [`Restore ${dependency.name}.`, 'The breaker closes by itself once probes succeed.'],
      },
    });
    const halfOpen = `${prefix}CircuitBreakerHalfOpen`;
    out.push({
      file: 'resilience',
      exprLabels: labels,
      testEvaluation: '1m',
      rule: {
        alert: halfOpen,
        expr: `max by (service_name, dependency) (circuit_breaker_state${sel}) == 1`,
        for: '1m',
        labels: common('warning'),
        annotations: annotations(
          model,
          halfOpen,
          `${service.name}'s circuit breaker for ${dependency.name} is half-open.`,
          '{{ $labels.service_name }} is probing {{ $labels.dependency }} after its breaker opened; the breaker closes if the probe succeeds and opens again if it fails.',
        ),
      },
      cases: [
        {
          name: 'fires',
          interval: '1m',
          input: [{ series, values: gauge(1, 10) }],
          checks: [{ at: '5m', firing: true }],
        },
        {
          name: 'stays silent while open',
          interval: '1m',
          input: [{ series, values: gauge(2, 10) }],
          checks: [{ at: '5m', firing: false }],
        },
        {
          name: 'resolves when the breaker closes',
          interval: '1m',
          input: [{ series, values: gauge(1, 6, { value: 0, steps: 6 }) }],
          checks: [
            { at: '5m', firing: true },
            { at: '9m', firing: false },
          ],
        },
      ],
      runbook: {
        service,
        meaning: `${service.name}'s circuit breaker for ${dependency.name} opened and, after ${formatDuration(dependency.circuitBreaker.openDurationMs)}, lets a trial call through; it stays half-open until that call settles.`,
        causes: [
          `${dependency.name} is recovering, or failing again.`,
          'No traffic reaches the breaker, so no trial call settles it.',
        ],
        steps: depSteps('circuit_breaker_state'),
        resolution: [
          `Check ${dependency.name}: the breaker closes when the trial call succeeds and opens again (paging) when it fails.`,
        ],
      },
    });
  }
  if (dependency.retry) {
    const name = `${prefix}RetrySpike`;
    out.push({
      file: 'resilience',
      exprLabels: labels,
      testEvaluation: '1m',
      rule: {
        alert: name,
        // the standard's threshold: more than 10 retries a second for 5 minutes
        expr: `sum by (service_name, dependency) (rate(retry_attempts_total${sel}[5m])) > 10`,
        for: '5m',
        labels: common('warning'),
        annotations: annotations(
          model,
          name,
          `${service.name} is retrying calls to ${dependency.name} more than 10 times a second.`,
          '{{ $labels.service_name }} has retried calls to {{ $labels.dependency }} at more than 10/s for 5 minutes; retries multiply load on a struggling dependency.',
        ),
      },
      cases: rateCases('retry_attempts_total', 660, 594),
      runbook: {
        service,
        meaning: `${service.name} retries calls to ${dependency.name} (up to ${dependency.retry.maxAttempts} attempts) more than 10 times a second.`,
        causes: [`${dependency.name} fails intermittently.`, 'Network trouble between the two.'],
        steps: depSteps('retry_attempts_total'),
        resolution: [`Fix ${dependency.name}; consider a circuit breaker to stop retry storms.`],
      },
    });
  }
  if (dependency.timeoutMs) {
    const name = `${prefix}Timeouts`;
    out.push({
      file: 'resilience',
      exprLabels: labels,
      testEvaluation: '1m',
      rule: {
        alert: name,
        expr: `sum by (service_name, dependency) (rate(timeout_exceeded_total${sel}[5m])) > 0.1`,
        for: '10m',
        labels: common('warning'),
        annotations: annotations(
          model,
          name,
          `${service.name}'s calls to ${dependency.name} time out.`,
          `{{ $labels.service_name }} calls to {{ $labels.dependency }} exceeded their ${formatDuration(dependency.timeoutMs)} timeout more than 0.1 times a second for 10 minutes.`,
        ),
      },
      cases: rateCases('timeout_exceeded_total', 12, 5),
      runbook: {
        service,
        meaning: `Calls from ${service.name} to ${dependency.name} exceed their ${formatDuration(dependency.timeoutMs)} timeout.`,
        causes: [
          `${dependency.name} is slow or saturated.`,
          'The timeout is tighter than the dependency’s normal latency.',
        ],
        steps: depSteps('timeout_exceeded_total'),
        resolution: [`Restore ${dependency.name}'s latency, or revisit the timeout.`],
      },
    });
  }
  if (dependency.bulkhead) {
    const rejections = `${prefix}BulkheadRejections`;
    out.push({
      file: 'resilience',
      exprLabels: labels,
      testEvaluation: '1m',
      rule: {
        alert: rejections,
        expr: `sum by (service_name, dependency) (rate(bulkhead_rejections_total${sel}[5m])) > 0`,
        for: '5m',
        labels: common('warning'),
        annotations: annotations(
          model,
          rejections,
          `${service.name} rejects calls to ${dependency.name} because its bulkhead is full.`,
          `{{ $labels.service_name }} has had all ${dependency.bulkhead.maxConcurrent} concurrent slots for {{ $labels.dependency }} busy and rejected calls for 5 minutes.`,
        ),
      },
      cases: rateCases('bulkhead_rejections_total', 5, 0, '12m'),
      runbook: {
        service,
        meaning: `The bulkhead limiting ${service.name} to ${dependency.bulkhead.maxConcurrent} concurrent calls to ${dependency.name} is full and rejects calls.`,
        causes: [
          `${dependency.name} got slower, so calls hold their slots longer.`,
          'Traffic grew beyond the configured concurrency.',
        ],
        steps: depSteps('bulkhead_rejections_total'),
        resolution: [`Restore ${dependency.name}'s latency or raise max_concurrent with care.`],
      },
    });
  }
  return out;
}

/**
 * A service's worker pools, by the standard's `pool_type` label (executor_* carry no dependency):
 * its ExecutorPoolSaturation, busy workers above 90% of capacity for 5 minutes. For services whose
 * spec bounds concurrency (a bulkhead), the ones that run pools worth watching.
 */
function poolSaturatedAlert(model: Model, service: ServiceModel): AlertDefinition {
  const name = `${pascal(service.name)}PoolSaturated`;
  const labels = { service_name: service.name, pool_type: 'thread' };
  const sel = selector({ service_name: service.name });
  const active = `executor_active_workers${seriesLabels(labels)}`;
  const max = `executor_max_workers${seriesLabels(labels)}`;
  const capacity = 10;
  return {
    file: 'resilience',
    exprLabels: labels,
    testEvaluation: '1m',
    rule: {
      alert: name,
      expr: `max by (service_name, pool_type) (executor_active_workers${sel}) / max by (service_name, pool_type) (executor_max_workers${sel}) > 0.9`,
      for: '5m',
      labels: { severity: 'warning', team: service.team, alertgroup: 'resilience' },
      annotations: annotations(
        model,
        name,
        `${service.name}'s {{ $labels.pool_type }} pool is more than 90% busy.`,
        '{{ $labels.service_name }} has kept more than 90% of its {{ $labels.pool_type }} pool workers busy for 5 minutes; tasks queue and the next spike waits.',
      ),
    },
    cases: [
      {
        name: 'fires',
        interval: '1m',
        input: [
          { series: active, values: gauge(capacity, 20) },
          { series: max, values: gauge(capacity, 20) },
        ],
        checks: [{ at: '10m', firing: true }],
      },
      {
        name: 'stays silent at the threshold',
        interval: '1m',
        input: [
          { series: active, values: gauge(capacity * 0.9, 20) },
          { series: max, values: gauge(capacity, 20) },
        ],
        checks: [{ at: '10m', firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: [
          { series: active, values: gauge(capacity, 10, { value: 0, steps: 16 }) },
          { series: max, values: gauge(capacity, 26) },
        ],
        checks: [
          { at: '9m', firing: true },
          { at: '13m', firing: false },
        ],
      },
    ],
    runbook: {
      service,
      meaning: `More than 90% of the workers of one of ${service.name}'s pools (\`pool_type\`: thread or process) have been busy for 5 minutes.`,
      causes: [
        'A blocking call got slower (a dependency, the disk, a lock).',
        'Traffic grew beyond the pool size.',
      ],
      steps: [
        {
          text: 'Busy, maximum and pending workers per pool:',
          language: 'promql',
          code: `executor_active_workers${sel} or executor_max_workers${sel} or executor_pending_tasks${sel}`,
        },
        ...commonServiceSteps(service).slice(1),
      ],
      resolution: ['Fix the slow blocking call, or raise the pool size with care.'],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Backend health (platform-owned)

function targetDownAlert(
  model: Model,
  name: string,
  job: string,
  instance: string,
  severity: Severity,
  team: string,
  service: ServiceModel | undefined,
): AlertDefinition {
  const series = `up${seriesLabels({ instance, job })}`;
  return {
    file: 'targets',
    exprLabels: { instance, job },
    testEvaluation: '1m',
    rule: {
      alert: name,
      expr: `up{job="${job}"} == 0`,
      for: '2m',
      labels: { severity, team, alertgroup: 'targets' },
      annotations: annotations(
        model,
        name,
        `Prometheus cannot scrape ${job}.`,
        'Scrapes of {{ $labels.instance }} (job {{ $labels.job }}) have failed for 2 minutes.',
      ),
    },
    cases: [
      {
        name: 'fires',
        interval: '1m',
        input: [{ series, values: gauge(0, 10) }],
        checks: [{ at: '5m', firing: true }],
      },
      {
        name: 'stays silent on a blip shorter than for',
        interval: '1m',
        input: [{ series, values: `1 0 1x10` }],
        checks: [{ at: '5m', firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: [{ series, values: gauge(0, 6, { value: 1, steps: 6 }) }],
        checks: [
          { at: '5m', firing: true },
          { at: '8m', firing: false },
        ],
      },
    ],
    runbook: {
      service,
      meaning: `Prometheus has failed to scrape ${job} at ${instance} for 2 minutes: it is down, not ready, or unreachable.`,
      causes: [
        'The process crashed or is restarting.',
        'It is not ready (still starting, or its storage is failing).',
        'Network or DNS trouble.',
      ],
      steps: [
        {
          text: 'Scrape status and the last error (Prometheus UI, Status → Targets), or:',
          language: 'promql',
          code: `up{job="${job}"}`,
        },
        {
          text:
            job === BACKEND_JOBS[0].job && model.collector.mode === 'gateway'
              ? 'Its logs (the compose service is the host part of `instance`: the agent, or a gateway `otel-collector-gateway-N`):'
              : 'Its logs:',
          language: 'sh',
          code: `docker compose logs --no-log-prefix --tail 200 ${service ? service.name : job}`,
        },
      ],
      resolution: ['Restart it; check its readiness endpoint and storage.'],
    },
  };
}

function targetAlerts(model: Model): AlertDefinition[] {
  const backends = BACKEND_JOBS.map((b) =>
    targetDownAlert(model, `${pascal(b.title)}Down`, b.job, b.target, 'critical', PLATFORM_TEAM, undefined),
  );
  const apps = model.services
    .filter((s) => s.metricsEndpoint)
    .map((s) =>
      targetDownAlert(
        model,
        `${pascal(s.name)}MetricsTargetDown`,
        s.name,
        `${s.metricsEndpoint!.host}:${s.metricsEndpoint!.port}`,
        'warning',
        s.team,
        s,
      ),
    );
  const ruleFailures: AlertDefinition = {
    file: 'targets',
    exprLabels: { rule_group: 'slo-example' },
    testEvaluation: '1m',
    rule: {
      alert: 'PrometheusRuleEvaluationFailures',
      expr: 'sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total[5m])) > 0',
      for: '5m',
      labels: { severity: 'critical', team: PLATFORM_TEAM, alertgroup: 'targets' },
      annotations: annotations(
        model,
        'PrometheusRuleEvaluationFailures',
        'Prometheus fails to evaluate some rules.',
        'Rules of group {{ $labels.rule_group }} fail to evaluate, so their alerts cannot fire.',
      ),
    },
    cases: (() => {
      const series = `prometheus_rule_evaluation_failures_total${seriesLabels({ instance: address('prometheus', 'http', 'localhost'), job: 'prometheus', rule_group: 'slo-example' })}`;
      return [
        {
          name: 'fires',
          interval: '1m',
          input: [{ series, values: counter(1, 15) }],
          checks: [{ at: '10m', firing: true }],
        },
        {
          name: 'stays silent without failures',
          interval: '1m',
          input: [{ series, values: counter(0, 15) }],
          checks: [{ at: '10m', firing: false }],
        },
        {
          name: 'resolves',
          interval: '1m',
          input: [{ series, values: counter(1, 10, { perStep: 0, steps: 15 }) }],
          checks: [
            { at: '10m', firing: true },
            { at: '20m', firing: false },
          ],
        },
      ];
    })(),
    runbook: {
      service: undefined,
      meaning:
        'Prometheus cannot evaluate some recording or alerting rules: alerts depending on them are blind.',
      causes: ['A rule produces many-to-many matches or duplicate series.', 'Query timeouts under load.'],
      steps: [
        {
          text: 'Which groups fail:',
          language: 'promql',
          code: 'increase(prometheus_rule_evaluation_failures_total[15m]) > 0',
        },
        {
          text: 'The error text is in Prometheus’s log:',
          language: 'sh',
          code: 'docker compose logs --no-log-prefix prometheus | grep -i "evaluating rule failed"',
        },
      ],
      resolution: ['Fix the rule in the spec or generator, regenerate, reload Prometheus.'],
    },
  };
  return [...backends, ...apps, ruleFailures];
}

// ---------------------------------------------------------------------------------------------

/**
 * Rule files, their tests, the runbooks and the Kubernetes rules all read the catalogue of one
 * Model: built once per Model (a 500-service spec built it four times, 1.9 s each).
 */
const built = new WeakMap<Model, Catalogue>();

export function buildCatalogue(model: Model): Catalogue {
  let catalogue = built.get(model);
  if (!catalogue) built.set(model, (catalogue = assemble(model)));
  return catalogue;
}

function assemble(model: Model): Catalogue {
  const files: RuleFile[] = [];
  files.push({ file: 'recording', groupName: 'otelkit-red', recording: sharedRecording(), alerts: [] });
  for (const service of model.services) {
    if (service.slos.length === 0) continue;
    files.push({
      file: `slo-${service.name}`,
      groupName: `slo-${service.name}`,
      recording: service.slos.flatMap((slo) => sloRecording(service, slo)),
      alerts: service.slos.flatMap((slo) =>
        burnWindows(slo.periodMs).map((window) => burnAlert(model, service, slo, window)),
      ),
    });
  }
  files.push({
    file: 'golden-signals',
    groupName: 'golden-signals',
    recording: [],
    alerts: model.services.flatMap((service) => [
      ...(service.kind === 'http'
        ? [errorRateAlert(model, service), latencyAlert(model, service)]
        : [errorRateAlert(model, service)]),
      telemetryMissingAlert(model, service),
    ]),
  });
  const resilience = model.services.flatMap((service) => [
    ...service.dependencies.flatMap((dependency) => resilienceAlerts(model, service, dependency)),
    ...(service.dependencies.some((dependency) => dependency.bulkhead)
      ? [poolSaturatedAlert(model, service)]
      : []),
  ]);
  if (resilience.length > 0)
    files.push({ file: 'resilience', groupName: 'resilience', recording: [], alerts: resilience });
  files.push({
    file: 'pipeline',
    groupName: 'pipeline-health',
    recording: [],
    alerts: pipelineAlerts(model),
  });
  files.push({ file: 'targets', groupName: 'targets', recording: [], alerts: targetAlerts(model) });
  files.push({ file: 'watchdog', groupName: 'watchdog', recording: [], alerts: watchdogAlerts(model) });
  return { files, alerts: files.flatMap((f) => f.alerts) };
}
