import { TAIL_SAMPLING_HEADROOM, tracesPerSecond } from './capacity.ts';
import type { Model } from './model.ts';

/**
 * How the Collector's tail samplers are sized: how long they hold a trace and how many they hold.
 * The Collector config, the spec rules and the pipeline alerts read these.
 */

/**
 * The OpenTelemetry SDKs' default batch span processor delay (OTEL_BSP_SCHEDULE_DELAY): a span
 * reaches the Collector up to this long after it ends.
 */
const SDK_EXPORT_DELAY_MS = 5_000;

/** Worst case of one dependency call: every attempt times out, with doubling backoff between. */
function callBudgetMs(dependency: Model['services'][number]['dependencies'][number]): number {
  if (dependency.timeoutMs === undefined) return 0;
  const attempts = dependency.retry?.maxAttempts ?? 1;
  const backoff = dependency.retry?.backoffMs ?? 0;
  let waits = 0;
  for (let retry = 0; retry < attempts - 1; retry++) waits += backoff * 2 ** retry;
  return attempts * dependency.timeoutMs + waits;
}

/**
 * How long tail sampling holds a trace: the spec's decision_wait, or longer when a request that
 * exhausts its dependencies' timeouts and retries (called one after another) plus the SDK export
 * delay would outlast it; a shorter wait decides on half a trace and sends the rest apart.
 */
export function tailDecisionWaitMs(model: {
  services: Model['services'];
  signals: { traces: Pick<Model['signals']['traces'], 'decisionWaitMs'> };
}): number {
  const longestRequestMs = Math.max(
    0,
    ...model.services.map((service) =>
      service.dependencies.reduce((sum, dependency) => sum + callBudgetMs(dependency), 0),
    ),
  );
  const needed = Math.ceil((longestRequestMs + SDK_EXPORT_DELAY_MS) / 1000) * 1000;
  return Math.max(model.signals.traces.decisionWaitMs, needed);
}

/** The processor's own default buffer, kept as the floor: small stacks get what they always had. */
const TAIL_SAMPLING_MIN_TRACES = 50_000;

/** Traces per second one tail-sampling Collector sees: the gateways share them by trace id. */
export function tracesPerSamplingCollector(model: Model): number {
  const samplers = model.collector.mode === 'gateway' ? model.collector.gatewayReplicas : 1;
  return Math.ceil(tracesPerSecond(model.collector.load) / samplers);
}

/**
 * How many traces a tail sampler holds: every trace that starts within one decision wait, with
 * headroom. Past num_traces / decision_wait new traces per second the processor evicts traces
 * before deciding on them (bench:collector prints that limit; CollectorTailSamplingEvicting fires).
 */
export function tailSamplingTraces(model: Model): number {
  const waiting = tracesPerSamplingCollector(model) * (tailDecisionWaitMs(model) / 1000);
  return Math.max(TAIL_SAMPLING_MIN_TRACES, Math.ceil(waiting * TAIL_SAMPLING_HEADROOM));
}
