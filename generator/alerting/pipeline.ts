import type { Model } from '../model/model.ts';
import {
  PLATFORM_TEAM,
  annotations,
  counter,
  gauge,
  seriesLabels,
  type AlertCase,
  type AlertDefinition,
  type Runbook,
  type RunbookStep,
  type SeriesInput,
  type Severity,
} from './definitions.ts';
import { MEMORY_LIMITER_SHARE, tracesPerSecond } from '../model/capacity.ts';
import { tailDecisionWaitMs, tailSamplingTraces } from '../model/sampling.ts';
import { num, perSignalRate } from '../model/promql.ts';
import { BACKEND_JOBS } from './scrape-jobs.ts';

/**
 * Collector health, for the agent and every gateway alike (one scrape job, told apart by
 * `instance`). Order of an outage: the queue grows while nothing is sent (warning, nothing lost
 * yet), then data is lost, either given up after the retries or refused by a full queue (critical).
 */

const COLLECTOR_JOB = BACKEND_JOBS[0].job;
const BY_EXPORTER = 'job, instance, exporter';
const BY_RECEIVER = 'job, instance, receiver';

const platform = (severity: Severity) => ({ severity, team: PLATFORM_TEAM, alertgroup: 'pipeline' });

const collectorSteps = (query: string): RunbookStep[] => [
  { text: 'The metric behind this alert:', language: 'promql', code: query },
  {
    text: 'Accepted per signal, to compare with the failures:',
    language: 'promql',
    code: perSignalRate('otelcol_receiver_accepted', 'instance, signal', '5m'),
  },
  {
    text: 'Exported per signal:',
    language: 'promql',
    code: perSignalRate('otelcol_exporter_sent', 'instance, exporter, signal', '5m'),
  },
  {
    text: 'Collector errors in its own JSON log (the agent; a gateway is `otel-collector-gateway-N`):',
    language: 'sh',
    code: `docker compose logs --no-log-prefix otel-collector | jq -c 'select(.level == "error" or .level == "warn")'`,
  },
];

const instance = `${BACKEND_JOBS[0].target}`;
const exporterLabels = { exporter: 'otlp_grpc/tempo', job: COLLECTOR_JOB, instance };
const receiverLabels = { receiver: 'otlp', transport: 'grpc', job: COLLECTOR_JOB, instance };

const series = (name: string, labels: Record<string, string>, values: string): SeriesInput => ({
  series: `${name}${seriesLabels(labels)}`,
  values,
});

/** Fires while a per-signal counter rises; the three cases from one rate pattern. */
function counterAlert(
  model: Model,
  options: {
    alert: string;
    prefix: string;
    by: 'exporter' | 'receiver';
    labels: Record<string, string>;
    for: string;
    severity: Severity;
    summary: string;
    description: string;
    silentName: string;
    timing: { fireAt: string; fireSteps: number; resolveAt: string };
    runbook: Omit<Runbook, 'steps' | 'service'>;
  },
): AlertDefinition {
  const by = options.by === 'exporter' ? BY_EXPORTER : BY_RECEIVER;
  const summed = perSignalRate(options.prefix, by, '5m');
  const expr = `${summed} > 0`;
  const metric = `${options.prefix}_spans`;
  const { fireAt, fireSteps, resolveAt } = options.timing;
  const rising = (perStep: number, steps: number, after?: number) =>
    series(
      metric,
      options.labels,
      counter(perStep, steps, after === undefined ? undefined : { perStep: after, steps: 15 }),
    );
  return {
    file: 'pipeline',
    exprLabels: { [options.by]: options.labels[options.by]!, job: COLLECTOR_JOB, instance },
    testEvaluation: '1m',
    rule: {
      alert: options.alert,
      expr,
      for: options.for,
      labels: platform(options.severity),
      annotations: annotations(model, options.alert, options.summary, options.description),
    },
    cases: [
      { name: 'fires', interval: '1m', input: [rising(10, 20)], checks: [{ at: fireAt, firing: true }] },
      {
        name: options.silentName,
        interval: '1m',
        input: [rising(0, 20)],
        checks: [{ at: fireAt, firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: [rising(10, fireSteps, 0)],
        checks: [
          { at: fireAt, firing: true },
          { at: resolveAt, firing: false },
        ],
      },
    ],
    runbook: { service: undefined, ...options.runbook, steps: collectorSteps(summed) },
  };
}

/** The queue grows and the exporter sends nothing: the backend is gone, and the queue is all that keeps the data. */
export function queueGrowingExpr(): string {
  return (
    `max by (${BY_EXPORTER}) (deriv(otelcol_exporter_queue_size[5m])) > 0` +
    ` unless on (${BY_EXPORTER}) (${perSignalRate('otelcol_exporter_sent', BY_EXPORTER, '5m')} > 0)`
  );
}

function queueGrowingAlert(model: Model): AlertDefinition {
  const alert = 'CollectorExporterQueueGrowing';
  const size = (values: string) => series('otelcol_exporter_queue_size', exporterLabels, values);
  const sent = (values: string) => series('otelcol_exporter_sent_spans', exporterLabels, values);
  const growing = '0+5x20';
  return {
    file: 'pipeline',
    exprLabels: { exporter: exporterLabels.exporter, job: COLLECTOR_JOB, instance },
    testEvaluation: '1m',
    rule: {
      alert,
      expr: queueGrowingExpr(),
      for: '5m',
      labels: platform('warning'),
      annotations: annotations(
        model,
        alert,
        'A Collector exporter queues data and sends none.',
        'The sending queue of {{ $labels.exporter }} on {{ $labels.instance }} has grown for 5 minutes while nothing was sent; the data waits in the queue, and is lost once the queue is full or its retries run out.',
      ),
    },
    cases: [
      // a backend gone from the start: the sent counter never appears
      { name: 'fires', interval: '1m', input: [size(growing)], checks: [{ at: '12m', firing: true }] },
      {
        name: 'stays silent while data is still sent',
        interval: '1m',
        input: [size(growing), sent(counter(100, 20))],
        checks: [{ at: '12m', firing: false }],
      },
      {
        name: 'resolves once sending resumes',
        interval: '1m',
        input: [size(`${growing} 100x15`), sent(`0x20 0+100x15`)],
        checks: [
          { at: '12m', firing: true },
          { at: '30m', firing: false },
        ],
      },
    ] satisfies AlertCase[],
    runbook: {
      service: undefined,
      meaning:
        'An exporter of the Collector has sent nothing for 5 minutes while its sending queue keeps growing: its backend (Tempo, Loki or Prometheus) takes no data. Nothing is lost yet: the queue holds the data and retries. It is lost when the queue is full (CollectorDroppingData) or a batch runs out of retries (CollectorExporterSendFailures).',
      causes: [
        'The backend is down or restarting.',
        'Network or DNS trouble inside the stack.',
        'The backend rejects every request (limits, authentication).',
      ],
      steps: collectorSteps('otelcol_exporter_queue_size'),
      resolution: [
        'Bring the backend back before the queue fills; the queue drains by itself.',
        'If the outage will be long, raise collector.persistent_queue.queue_size now.',
      ],
    },
  };
}

function queueNearlyFullAlert(model: Model): AlertDefinition {
  const size = `otelcol_exporter_queue_size${seriesLabels(exporterLabels)}`;
  const capacity = `otelcol_exporter_queue_capacity${seriesLabels(exporterLabels)}`;
  const queueCase = (name: string, values: string, checks: AlertCase['checks']): AlertCase => ({
    name,
    interval: '1m',
    input: [
      { series: size, values },
      { series: capacity, values: gauge(1000, 30) },
    ],
    checks,
  });
  return {
    file: 'pipeline',
    exprLabels: { exporter: exporterLabels.exporter, job: COLLECTOR_JOB, instance },
    testEvaluation: '1m',
    rule: {
      alert: 'CollectorQueueNearlyFull',
      expr: `max by (${BY_EXPORTER}) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity) >= 0.8`,
      for: '5m',
      labels: platform('critical'),
      annotations: annotations(
        model,
        'CollectorQueueNearlyFull',
        'A Collector sending queue is at least 80% full.',
        'The sending queue of {{ $labels.exporter }} on {{ $labels.instance }} is 80% full or more; when it is full, new data is dropped.',
      ),
    },
    cases: [
      queueCase('fires', gauge(850, 20), [{ at: '10m', firing: true }]),
      queueCase('stays silent just under the threshold', gauge(790, 20), [{ at: '10m', firing: false }]),
      queueCase('resolves', gauge(850, 12, { value: 100, steps: 10 }), [
        { at: '10m', firing: true },
        { at: '15m', firing: false },
      ]),
    ],
    runbook: {
      service: undefined,
      meaning: 'An exporter’s sending queue is 80% full: the backend takes data slower than it arrives.',
      causes: [
        'The backend is down (see CollectorExporterQueueGrowing).',
        'A traffic spike larger than the backend can absorb.',
      ],
      steps: collectorSteps('otelcol_exporter_queue_size / otelcol_exporter_queue_capacity'),
      resolution: [
        'Restore the backend.',
        'Raise collector.persistent_queue.queue_size if spikes are normal.',
      ],
    },
  };
}

/**
 * The removal-age buckets of the tail sampler's histogram, in whole seconds: v0.159's dropTrace
 * records the age divided by time.Second into the SDK's default boundaries. Read as milliseconds
 * they put every trace leaving after its decision below the wait, so the alert fired on any traffic
 * (bench:collector's replayed load showed it once a step outlasted the wait).
 */
const REMOVAL_AGE_BUCKETS_S = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

/**
 * A tail sampler holds num_traces traces; a new one past that evicts the oldest, decided or not. A
 * trace evicted younger than decision_wait was decided on the spans it had so far: an error or a
 * slow span that came later is then missed by the keep policies. The widest bucket under
 * decision_wait counts only such evictions (in normal operation a trace leaves long after it).
 */
function tailSamplingEvictingAlert(model: Model): AlertDefinition {
  const alert = 'CollectorTailSamplingEvicting';
  const waitMs = tailDecisionWaitMs(model);
  // a trace decided at the wait is recorded at the wait's whole seconds or more: only a bucket
  // below it counts evictions alone
  const le = String(Math.max(...REMOVAL_AGE_BUCKETS_S.filter((b) => b < waitMs / 1000)));
  const metric = 'otelcol_processor_tail_sampling_sampling_trace_removal_age_bucket';
  const labels = { job: COLLECTOR_JOB, instance, le };
  const expr = `sum by (job, instance) (rate(${metric}{le="${le}"}[5m])) > 0`;
  const evicted = (values: string) => series(metric, labels, values);
  return {
    file: 'pipeline',
    exprLabels: { job: COLLECTOR_JOB, instance },
    testEvaluation: '1m',
    rule: {
      alert,
      expr,
      for: '5m',
      labels: platform('warning'),
      annotations: annotations(
        model,
        alert,
        'Tail sampling decides on traces before they are complete.',
        `The tail sampler on {{ $labels.instance }} evicts traces younger than its decision wait (${num(waitMs / 1000)}s): its buffer of ${tailSamplingTraces(model)} traces is full, so traces are decided on the spans they had, and errors or slow spans that come later are missed.`,
      ),
    },
    cases: [
      {
        name: 'fires',
        interval: '1m',
        input: [evicted(counter(10, 20))],
        checks: [{ at: '12m', firing: true }],
      },
      {
        name: 'stays silent while traces leave after their decision',
        interval: '1m',
        input: [evicted(gauge(0, 20))],
        checks: [{ at: '12m', firing: false }],
      },
      {
        name: 'resolves',
        interval: '1m',
        input: [evicted(counter(10, 12, { perStep: 0, steps: 15 }))],
        checks: [
          { at: '11m', firing: true },
          { at: '25m', firing: false },
        ],
      },
    ] satisfies AlertCase[],
    runbook: {
      service: undefined,
      meaning: `More traces start per second than the tail sampler can hold for its decision wait: it holds ${tailSamplingTraces(model)} traces (${tracesPerSecond(model.collector.load)} traces/s from collector.expected_load × ${num(waitMs / 1000)}s, twice over${model.collector.mode === 'gateway' ? `, shared by ${model.collector.gatewayReplicas} gateways` : ''}) and evicts the oldest when full. Nothing is dropped, but traces are sampled on part of their spans: the keep-errors and keep-slow policies can miss them.`,
      causes: [
        'Traffic above collector.expected_load (spans_per_second / spans_per_trace traces a second).',
        'A burst, or a retry storm multiplying traces.',
      ],
      steps: collectorSteps(`sum by (instance) (rate(${metric}{le="${le}"}[5m]))`),
      resolution: [
        'Set collector.expected_load to the real peak and regenerate: it sizes num_traces, the memory limit and, in gateway mode, the gateway replicas (otelkit validate warns where values the spec sets cannot carry it).',
        'Or scale out: collector.mode: gateway shares the traces over the gateways.',
      ],
    },
  };
}

export function pipelineAlerts(model: Model): AlertDefinition[] {
  return [
    tailSamplingEvictingAlert(model),
    queueGrowingAlert(model),
    counterAlert(model, {
      alert: 'CollectorExporterSendFailures',
      prefix: 'otelcol_exporter_send_failed',
      by: 'exporter',
      labels: exporterLabels,
      for: '1m',
      severity: 'critical',
      summary: 'The Collector gave up sending telemetry to a backend: that data is lost.',
      description:
        'Exporter {{ $labels.exporter }} on {{ $labels.instance }} dropped data it could not send: its retries ran out or the backend refused it for good.',
      silentName: 'stays silent without failures',
      timing: { fireAt: '8m', fireSteps: 10, resolveAt: '20m' },
      runbook: {
        meaning:
          'Data is being lost: a Collector exporter gave up on batches, either because the backend kept failing until the retry time ran out, or because it rejected them as invalid (a permanent error). The Collector counts an item here only once it is dropped, so the outage began earlier (CollectorExporterQueueGrowing).',
        causes: [
          'A backend outage longer than the exporter’s retry time.',
          'The backend rejects data (limits, out-of-order samples, too-large requests).',
        ],
        resolution: [
          'Bring the backend back; what is still queued is delivered.',
          'If the backend rejects data, fix its limits or the data (its log names the reason).',
        ],
      },
    }),
    queueNearlyFullAlert(model),
    counterAlert(model, {
      alert: 'CollectorRefusingData',
      prefix: 'otelcol_receiver_refused',
      by: 'receiver',
      labels: receiverLabels,
      for: '5m',
      severity: 'critical',
      summary: 'The Collector refuses incoming telemetry.',
      description:
        'Receiver {{ $labels.receiver }} on {{ $labels.instance }} refuses data, usually because the memory limiter is over its limit; senders retry, and then drop.',
      silentName: 'stays silent without refusals',
      timing: { fireAt: '12m', fireSteps: 15, resolveAt: '25m' },
      runbook: {
        meaning: `The Collector refuses data: its memory limiter (limit ${Math.floor(model.collector.memoryLimitMib * MEMORY_LIMITER_SHARE)} MiB) is over the limit.`,
        causes: [
          'A traffic spike.',
          'A backend outage filling memory with retries.',
          `collector.memory_limit_mib (${model.collector.memoryLimitMib}) too small.`,
        ],
        resolution: [
          'Raise collector.memory_limit_mib or scale out (collector.mode: gateway).',
          'Fix the backend outage.',
        ],
      },
    }),
    counterAlert(model, {
      alert: 'CollectorDroppingData',
      prefix: 'otelcol_exporter_enqueue_failed',
      by: 'exporter',
      labels: exporterLabels,
      for: '1m',
      severity: 'critical',
      summary: 'The Collector is dropping telemetry.',
      description:
        'Exporter {{ $labels.exporter }} on {{ $labels.instance }} cannot enqueue data because its queue is full: this data is lost.',
      silentName: 'stays silent without drops',
      timing: { fireAt: '8m', fireSteps: 10, resolveAt: '20m' },
      runbook: {
        meaning: 'Data is being lost: an exporter’s queue is full and new batches are rejected.',
        causes: ['A long backend outage exhausted the queue.', 'The queue is too small for the traffic.'],
        resolution: ['Restore the backend first.', 'Raise collector.persistent_queue.queue_size.'],
      },
    }),
  ];
}
