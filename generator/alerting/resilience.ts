import type { DependencyModel, Model, ServiceModel } from '../model/model.ts';
import { formatDuration } from '../model/duration.ts';
import {
  annotations,
  counter,
  gauge,
  pascal,
  seriesLabels,
  type AlertCase,
  type AlertDefinition,
  type RunbookStep,
  type Severity,
} from './definitions.ts';
import { num, selector } from '../model/promql.ts';
import { alertCases } from './cases.ts';
import { commonServiceSteps } from './runbook-steps.ts';

/** Resilience alerts per dependency (breaker, retries, timeouts, bulkheads), metric names from the observability standard. */

export function resilienceAlerts(
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
    return alertCases({
      at,
      fires: [{ series, values: counter(fire, 25) }],
      silent: { input: [{ series, values: counter(under, 25) }] },
      resolves: {
        input: [{ series, values: counter(fire, 20, { perStep: 0, steps: 15 }) }],
        resolvedAt: '32m',
      },
    });
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
      cases: alertCases({
        at: '5m',
        fires: [{ series, values: gauge(2, 10) }],
        silent: { name: 'stays silent while half-open', input: [{ series, values: gauge(1, 10) }] },
        resolves: {
          name: 'resolves when the breaker closes',
          input: [{ series, values: gauge(2, 6, { value: 0, steps: 6 }) }],
          resolvedAt: '9m',
        },
      }),
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
      cases: alertCases({
        at: '5m',
        fires: [{ series, values: gauge(1, 10) }],
        silent: { name: 'stays silent while open', input: [{ series, values: gauge(2, 10) }] },
        resolves: {
          name: 'resolves when the breaker closes',
          input: [{ series, values: gauge(1, 6, { value: 0, steps: 6 }) }],
          resolvedAt: '9m',
        },
      }),
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
export function poolSaturatedAlert(model: Model, service: ServiceModel): AlertDefinition {
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
    cases: alertCases({
      at: '10m',
      fires: [
        { series: active, values: gauge(capacity, 20) },
        { series: max, values: gauge(capacity, 20) },
      ],
      silent: {
        name: 'stays silent at the threshold',
        input: [
          { series: active, values: gauge(capacity * 0.9, 20) },
          { series: max, values: gauge(capacity, 20) },
        ],
      },
      resolves: {
        input: [
          { series: active, values: gauge(capacity, 10, { value: 0, steps: 16 }) },
          { series: max, values: gauge(capacity, 26) },
        ],
        firingAt: '9m',
        resolvedAt: '13m',
      },
    }),
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
