import { SPAN_METRICS } from '../model/conventions.ts';
import type { Model, ServiceModel, SloModel } from '../model/model.ts';
import { budgetSpent, burnWindows, errorRatioThreshold, sloWindowsMs, type BurnWindow } from '../model/slo.ts';
import { HOUR_MS, formatDuration, formatGoDuration } from '../model/duration.ts';
import {
  REQUESTS_PER_STEP,
  annotations,
  counter,
  pascal,
  seriesLabels,
  stepsFor,
  type AlertCase,
  type AlertDefinition,
  type RecordingRule,
  type RunbookStep,
  type SeriesInput,
} from './definitions.ts';
import { ERROR_STATUS, num, requestMatchers, requestSpanKind, selector } from '../model/promql.ts';
import { commonServiceSteps } from './runbook-steps.ts';
import { RULE } from '../model/rule-names.ts';

/** SLO recording rules and multi-window burn-rate alerts, with their promtool cases and runbooks. */

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

export function sloRecording(service: ServiceModel, slo: SloModel): RecordingRule[] {
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
export function requestSeriesLabels(service: ServiceModel, slo?: SloModel) {
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

export function burnAlert(
  model: Model,
  service: ServiceModel,
  slo: SloModel,
  window: BurnWindow,
): AlertDefinition {
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
