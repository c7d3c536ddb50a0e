import { SPAN_METRICS } from '../model/conventions.ts';
import type { Model, ServiceModel, SloModel } from '../model/model.ts';
import {
  SCRAPES_PER_WINDOW,
  baseWindowMs,
  budgetSpent,
  burnWindows,
  errorRatioThreshold,
  sloWindowsMs,
  summedFromBase,
  type BurnWindow,
} from '../model/slo.ts';
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
  type RecordingCase,
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

/** Bad events per second of the SLI over the window: failed requests, or requests over the threshold. */
function sloBadExpr(service: ServiceModel, slo: SloModel, window: string): string {
  const matchers = requestMatchers(service, slo.routes);
  if (slo.kind === 'availability') {
    const errors = selector({ ...matchers, status_code: ERROR_STATUS });
    // a long window sums this: 0 without failures, never absent, so it holds a sample wherever requests do
    return `sum(rate(${SPAN_METRICS.calls}${errors}[${window}])) or vector(0)`;
  }
  const fast = selector({ ...matchers, le: num(slo.thresholdMs!) });
  return `${sloRequestsExpr(service, slo, window)} - sum(rate(${SPAN_METRICS.durationBucket}${fast}[${window}]))`;
}

/** Windows whose request rate the burn alerts' traffic guards read: 1h for the per-hour floor, and each long window. */
function sloRequestWindowsMs(slo: SloModel): number[] {
  return [...new Set([HOUR_MS, ...burnWindows(slo.periodMs).map((w) => w.longMs)])].sort((a, b) => a - b);
}

/**
 * Where an SLO's windows are computed from: `preaggregated` (what otelkit generates) sums its long
 * windows from the base rates (see BASE_WINDOW_MS in model/slo.ts); `raw` reads every window from
 * the span metrics, the rules before that change, kept for bench:rules to measure against.
 */
export type SloWindowSource = 'preaggregated' | 'raw';

/**
 * One SLO's recording rules, in evaluation order: the base rates first, then the windows summed
 * from them, then the period and budget rules that read those. They all go into the service's one
 * rule group, whose order Prometheus keeps.
 */
export function sloRecording(
  model: Model,
  service: ServiceModel,
  slo: SloModel,
  source: SloWindowSource = 'preaggregated',
): RecordingRule[] {
  const labels = { service_name: service.name, slo: slo.name };
  const sel = selector(labels);
  const windows = [...new Set([...sloWindowsMs(slo.periodMs), slo.periodMs])];
  const baseMs = baseWindowMs(model.signals.metrics.scrapeIntervalMs);
  const summed = (ms: number) => source === 'preaggregated' && summedFromBase(ms, slo.periodMs, baseMs);
  const base = formatDuration(baseMs);
  const bad = `${RULE.sloErrors(baseMs)}${sel}`;
  const all = `${RULE.sloRequests(baseMs)}${sel}`;
  const ratioExpr = (ms: number) => {
    const range = formatDuration(ms);
    if (source === 'preaggregated' && ms === baseMs) return `${bad} / ${all}`;
    return summed(ms)
      ? `sum_over_time(${bad}[${range}]) / sum_over_time(${all}[${range}])`
      : sloErrorExpr(service, slo, range);
  };
  const baseRules: RecordingRule[] =
    source === 'raw'
      ? []
      : [
          { record: RULE.sloErrors(baseMs), expr: sloBadExpr(service, slo, base), labels },
          { record: RULE.sloRequests(baseMs), expr: sloRequestsExpr(service, slo, base), labels },
        ];
  return [
    ...baseRules,
    ...windows.map((ms) => ({ record: RULE.sloErrorRatio(ms), expr: ratioExpr(ms), labels })),
    {
      record: RULE.sloErrorRatioPeriod,
      expr: `${RULE.sloErrorRatio(slo.periodMs)}${sel}`,
      labels,
    },
    ...sloRequestWindowsMs(slo)
      .filter((ms) => source === 'raw' || ms !== baseMs)
      .map((ms) => ({
        record: RULE.sloRequests(ms),
        // Requests over the window divided by its length, as rate() over it is: the base samples'
        // sum times the evaluation interval (the base window over its sample count). The mean
        // rate times the window would overstate the requests wherever the base rates' history is
        // shorter than the window, and the burn alerts' one-failure discount with them.
        expr: summed(ms)
          ? `sum_over_time(${all}[${formatDuration(ms)}]) / count_over_time(${all}[${base}]) * ${num(baseMs / ms)}`
          : sloRequestsExpr(service, slo, formatDuration(ms)),
        labels,
      })),
    { record: RULE.sloObjective, expr: `vector(${num(slo.objective)})`, labels },
    {
      record: RULE.sloBudgetRemaining,
      expr: `1 - (${RULE.sloErrorRatioPeriod}${sel} / ${num(1 - slo.objective)})`,
      labels,
    },
  ];
}

/** A counter rising by each segment's `perStep` for its `steps` steps, one segment after the other. */
function piecewiseCounter(segments: { perStep: number; steps: number }[]): string {
  let value = 0;
  return segments
    .map(({ perStep, steps }, i) => {
      if (i === 0) {
        value = perStep * steps;
        return `0+${num(perStep)}x${steps}`;
      }
      const first = value + perStep;
      value += perStep * steps;
      return `${num(first)}+${num(perStep)}x${steps - 1}`;
    })
    .join(' ');
}

/** One request series of the SLI per status (or bucket): `good` and `bad` requests a step, per segment. */
function sliInput(
  service: ServiceModel,
  slo: SloModel,
  segments: { good: number; bad: number; steps: number }[],
): SeriesInput[] {
  const base = requestSeriesLabels(service, slo);
  const good = piecewiseCounter(segments.map((s) => ({ perStep: s.good, steps: s.steps })));
  const bad = piecewiseCounter(segments.map((s) => ({ perStep: s.bad, steps: s.steps })));
  const all = piecewiseCounter(segments.map((s) => ({ perStep: s.good + s.bad, steps: s.steps })));
  if (slo.kind === 'availability')
    return [
      {
        series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: 'STATUS_CODE_UNSET' })}`,
        values: good,
      },
      { series: `${SPAN_METRICS.calls}${seriesLabels({ ...base, status_code: ERROR_STATUS })}`, values: bad },
    ];
  return [
    {
      series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le: num(slo.thresholdMs!) })}`,
      values: good,
    },
    { series: `${SPAN_METRICS.durationBucket}${seriesLabels({ ...base, le: '+Inf' })}`, values: all },
    { series: `${SPAN_METRICS.durationCount}${seriesLabels(base)}`, values: all },
  ];
}

/**
 * What the summed windows promise, proven by promtool on the generated rules:
 * - Evaluation order: failures start between two evaluations, and at the first evaluation whose
 *   base rate sees them the shortest summed window sees them as well. It can only if the base rates
 *   were recorded before it in the same evaluation of the same group; one evaluation earlier,
 *   neither sees them.
 * - Traffic weighting: half the window of heavy traffic without failures, then half of a tenth of
 *   that traffic with half of it failing: the ratio of sums is 0.05 / 1.1 = 4.5 %, where a mean of
 *   the 5m ratios would be about 25 %. A summed window lags by half a base window (each base
 *   sample covers the base window before it), so here it holds a little more of the heavy half:
 *   4.1 % for 1h, within base / (window / 2) of 4.5 %.
 */
export function sloRecordingCases(model: Model, service: ServiceModel, slo: SloModel): RecordingCase[] {
  const baseMs = baseWindowMs(model.signals.metrics.scrapeIntervalMs);
  const summed = [...new Set([...sloWindowsMs(slo.periodMs), slo.periodMs])].filter((ms) =>
    summedFromBase(ms, slo.periodMs, baseMs),
  );
  if (summed.length === 0) return [];
  const windowMs = Math.min(...summed);
  const stepMs = 60_000;
  const steps = (ms: number) => stepsFor(ms, stepMs);
  const at = (ms: number) => formatDuration(ms);
  const labels = { service_name: service.name, slo: slo.name };
  const ratio = `${RULE.sloErrorRatio(windowMs)}${selector(labels)}`;
  const rule = RULE.sloErrorRatio(windowMs);

  // a base window of good requests and one step more, then a tenth of the traffic failing
  const quietMs = baseMs + stepMs;
  const seen = `${ratio} > bool 0`;
  const heavy = REQUESTS_PER_STEP;
  const light = REQUESTS_PER_STEP / 10;
  const half = windowMs / 2;
  const weighted = (light * 0.5) / (heavy + light);
  return [
    {
      name: `${service.name} ${slo.name}: ${rule} reads the base rates of its own evaluation`,
      interval: at(stepMs),
      input: sliInput(service, slo, [
        { good: heavy, bad: 0, steps: steps(quietMs) },
        { good: heavy, bad: heavy / 10, steps: 5 },
      ]),
      checks: [
        { at: at(quietMs), expr: seen, samples: [{ labels, value: 0 }] },
        { at: at(quietMs + stepMs), expr: seen, samples: [{ labels, value: 1 }] },
      ],
    },
    {
      name: `${service.name} ${slo.name}: ${rule} weighs each step by its traffic`,
      interval: at(stepMs),
      input: sliInput(service, slo, [
        { good: heavy, bad: 0, steps: steps(windowMs + half) },
        { good: light * 0.5, bad: light * 0.5, steps: steps(half) },
      ]),
      checks: [
        {
          at: at(2 * windowMs),
          expr: `abs(${ratio} - ${num(weighted)}) < bool ${num((weighted * baseMs) / half)}`,
          samples: [{ labels, value: 1 }],
        },
      ],
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
  // Inputs are sampled at least four times a base window as well, as real scrapes are: the long
  // windows sum the base rates, which a coarser input would leave empty.
  const baseMs = baseWindowMs(model.signals.metrics.scrapeIntervalMs);
  const sampleMs = Math.min(intervalMs, Math.floor(baseMs / SCRAPES_PER_WINDOW / 60_000) * 60_000);
  const interval = formatDuration(sampleMs);
  const fireFor = window.longMs + window.forMs + 4 * intervalMs;
  const fireSteps = stepsFor(fireFor, sampleMs);
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
  const quietPerStep = (quietRequests * sampleMs) / window.longMs;
  const failureAge = window.forMs + 2 * intervalMs;
  const quietCase: AlertCase[] =
    quietPerStep * (HOUR_MS / sampleMs) >= Math.max(1, model.alerting.slo_min_requests_per_hour) &&
    failureAge < window.shortMs
      ? [
          {
            name: 'stays silent on one failed request at low traffic',
            interval,
            input: oneFailureSeries(
              service,
              slo,
              quietPerStep,
              stepsFor(fireFor - failureAge, sampleMs),
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
        input: sloSeries(service, slo, [resolveErrors, 0], [fireSteps, stepsFor(resolveAfter, sampleMs)]),
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
