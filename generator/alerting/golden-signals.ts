import { SPAN_METRICS } from '../model/conventions.ts';
import type { Model, ServiceModel } from '../model/model.ts';
import { formatDuration, formatGoDuration } from '../model/duration.ts';
import { alertCases } from './cases.ts';
import { annotations, counter, pascal, seriesLabels, type AlertDefinition } from './definitions.ts';
import { ERROR_STATUS, num, requestSpanKind } from '../model/promql.ts';
import { commonServiceSteps } from './runbook-steps.ts';
import { RULE } from '../model/rule-names.ts';
import { requestSeriesLabels } from './slo-burn.ts';

/** Golden-signal alerts per service (error rate, latency) and the alert on its telemetry going missing. */

export function errorRateAlert(model: Model, service: ServiceModel): AlertDefinition {
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
    cases: alertCases({
      at: '18m',
      fires: series([100], [fireSteps]),
      silent: { input: series([45], [fireSteps]) },
      resolves: { input: series([100, 0], [fireSteps, 15]), resolvedAt: '30m' },
    }),
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

export function latencyAlert(model: Model, service: ServiceModel): AlertDefinition {
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
    cases: alertCases({
      at: '18m',
      fires: series((le) => [slowPattern(le)], [20]),
      silent: { input: series((le) => [fastPattern(le)], [20]) },
      resolves: { input: series((le) => [slowPattern(le), fastPattern(le)], [20, 15]), resolvedAt: '30m' },
    }),
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

export function telemetryMissingAlert(model: Model, service: ServiceModel): AlertDefinition {
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
    cases: alertCases({
      at: '25m',
      fires: [{ series: other, values: counter(10, 40) }],
      silent: {
        name: 'stays silent while telemetry arrives',
        input: [{ series: present, values: counter(10, 40) }],
      },
      resolves: {
        name: 'resolves when telemetry returns',
        input: [{ series: present, values: `_x25 0+10x20` }],
        firingAt: '24m',
        resolvedAt: '35m',
      },
    }),
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
