import type { Attributes, Meter } from '@opentelemetry/api';
import { RESILIENCE_EVENTS } from '../../standard.ts';
import { loadInstrumentationApi } from './api.ts';
import type { LogSink } from '../logs/sink.ts';
import type { Instrumentation } from './registry.ts';

/**
 * Resilience events (circuit breakers, retries, timeouts, bulkheads) and worker pools as the
 * standard's metrics and as structured log records with its `resilience_event` names and levels
 * (runtime/standard.ts, the table `otelkit check logs` holds lines to). opossum breakers are
 * observed with no code change; other resilience code reports through the small API exported by
 * `otelkit/preload` (recordRetry, recordTimeout, recordExecutor, ...). The dashboards and alerts
 * read exactly these metric names (generator/model/conventions.ts RESILIENCE_METRICS; a test keeps
 * them in step).
 */

export type BreakerState = 'closed' | 'open' | 'half_open';
/** The value `circuit_breaker_state` reports, as the standard encodes it: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export type ResilienceEvent = keyof typeof RESILIENCE_EVENTS;
const STATE_EVENT: Record<BreakerState, ResilienceEvent> = {
  open: 'circuit_breaker_opened',
  half_open: 'circuit_breaker_half_open',
  closed: 'circuit_breaker_closed',
};

export const RESILIENCE_METRIC_NAMES = {
  state: 'circuit_breaker_state',
  transitions: 'circuit_breaker_transitions_total',
  retries: 'retry_attempts_total',
  timeouts: 'timeout_exceeded_total',
  bulkheadRejections: 'bulkhead_rejections_total',
  activeWorkers: 'executor_active_workers',
  maxWorkers: 'executor_max_workers',
  pendingTasks: 'executor_pending_tasks',
  semaphoreAvailable: 'semaphore_available',
} as const;

export interface ResilienceDetails {
  /** How long the attempt or call took. */
  durationMs?: number;
  /** The attempt number (1-based): for a retry, the attempt that just failed. */
  attempt?: number;
  error?: unknown;
}

/** A worker pool's figures, as the standard's executor gauges report them. */
export interface ExecutorFigures {
  /** Currently busy workers. */
  active?: number;
  /** Pool capacity. */
  max?: number;
  /** Tasks waiting for a worker. */
  pending?: number;
}

export type RetryOutcome = 'success' | 'failure';

export interface Resilience {
  /** About to retry after a failure: `retry_attempt`. */
  recordRetry(dependency: string, details?: ResilienceDetails): void;
  /** A retry finished: `retry_attempts_total{dependency, outcome}`. */
  recordRetryOutcome(dependency: string, outcome: RetryOutcome, details?: ResilienceDetails): void;
  /** All attempts failed: `retry_exhausted`. */
  recordRetryExhausted(dependency: string, details?: ResilienceDetails): void;
  recordTimeout(dependency: string, details?: ResilienceDetails): void;
  recordBulkheadRejection(dependency: string, details?: ResilienceDetails): void;
  /** A call waited more than a second for a semaphore slot: `bulkhead_contention`. */
  recordBulkheadContention(dependency: string, details?: ResilienceDetails): void;
  recordFallback(dependency: string, details?: ResilienceDetails): void;
  recordRejection(dependency: string, details?: ResilienceDetails): void;
  /** A breaker's new state; transitions are counted from the state last reported. */
  recordBreakerState(dependency: string, state: BreakerState, details?: ResilienceDetails): void;
  /** A worker pool's current figures, by `pool_type` (thread, process, or the app's own name). */
  recordExecutor(poolType: string, figures: ExecutorFigures): void;
  /** Remaining slots of a dependency's semaphore. */
  recordSemaphore(dependency: string, available: number): void;
  breakerStates(): Record<string, BreakerState>;
}

const LOGGER = 'otelkit.resilience';

const errorText = (error: unknown) =>
  error === undefined
    ? undefined
    : error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error);

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

export function createResilience(meter: Meter, sink: LogSink): Resilience {
  const states = new Map<string, BreakerState>();
  const executors = new Map<string, ExecutorFigures>();
  const semaphores = new Map<string, number>();
  const transitions = meter.createCounter(RESILIENCE_METRIC_NAMES.transitions, {
    description: 'Circuit breaker state transitions.',
  });
  const retries = meter.createCounter(RESILIENCE_METRIC_NAMES.retries, {
    description: 'Retry attempts to a dependency, by their outcome.',
  });
  const timeouts = meter.createCounter(RESILIENCE_METRIC_NAMES.timeouts, {
    description: 'Calls to a dependency that exceeded their timeout.',
  });
  const bulkheadRejections = meter.createCounter(RESILIENCE_METRIC_NAMES.bulkheadRejections, {
    description: 'Calls rejected because the semaphore for a dependency was full.',
  });
  meter
    .createObservableGauge(RESILIENCE_METRIC_NAMES.state, {
      description: 'Circuit breaker state (0=closed, 1=half-open, 2=open).',
    })
    .addCallback((result) => {
      for (const [dependency, state] of states) result.observe(BREAKER_STATE_VALUE[state], { dependency });
    });
  const executorGauge = (name: string, description: string, figure: keyof ExecutorFigures) =>
    meter.createObservableGauge(name, { description }).addCallback((result) => {
      for (const [poolType, figures] of executors) {
        const value = figures[figure];
        if (finite(value)) result.observe(value, { pool_type: poolType });
      }
    });
  executorGauge(RESILIENCE_METRIC_NAMES.activeWorkers, 'Currently busy workers.', 'active');
  executorGauge(RESILIENCE_METRIC_NAMES.maxWorkers, 'Pool capacity.', 'max');
  executorGauge(RESILIENCE_METRIC_NAMES.pendingTasks, 'Tasks waiting for a worker.', 'pending');
  meter
    .createObservableGauge(RESILIENCE_METRIC_NAMES.semaphoreAvailable, {
      description: 'Remaining semaphore slots.',
    })
    .addCallback((result) => {
      for (const [dependency, available] of semaphores) result.observe(available, { dependency });
    });

  const fieldsOf = (dependency: string, details: ResilienceDetails, extra: Attributes) => {
    // the standard's contract: attempt is null for events that are not retries
    const fields: Record<string, unknown> = { dependency, attempt: details.attempt ?? null, ...extra };
    if (details.durationMs !== undefined) fields.duration_ms = Math.round(details.durationMs * 1000) / 1000;
    const error = errorText(details.error);
    if (error !== undefined) fields.error = error;
    return fields;
  };
  const log = (
    event: ResilienceEvent,
    dependency: string,
    message: string,
    details: ResilienceDetails = {},
    extra: Attributes = {},
  ) =>
    sink.write(RESILIENCE_EVENTS[event], LOGGER, message, {
      resilience_event: event,
      ...fieldsOf(dependency, details, extra),
    });

  return {
    recordRetry(dependency, details) {
      log('retry_attempt', dependency, `retrying ${dependency}`, details);
    },
    recordRetryOutcome(dependency, outcome) {
      retries.add(1, { dependency, outcome: outcome === 'success' ? 'success' : 'failure' });
    },
    recordRetryExhausted(dependency, details) {
      log('retry_exhausted', dependency, `all attempts at ${dependency} failed`, details);
    },
    recordTimeout(dependency, details) {
      timeouts.add(1, { dependency });
      log('timeout_exceeded', dependency, `call to ${dependency} exceeded its timeout`, details);
    },
    recordBulkheadRejection(dependency, details) {
      bulkheadRejections.add(1, { dependency });
      log('bulkhead_rejected', dependency, `call to ${dependency} rejected: semaphore full`, details);
    },
    recordBulkheadContention(dependency, details) {
      log('bulkhead_contention', dependency, `call to ${dependency} waited for a semaphore slot`, details);
    },
    recordFallback(dependency, details) {
      // not an event of the standard's table, so a plain record rather than a resilience_event
      sink.write('info', LOGGER, `fallback used for ${dependency}`, {
        fallback: true,
        ...fieldsOf(dependency, details ?? {}, {}),
      });
    },
    recordRejection(dependency, details) {
      log('circuit_breaker_rejected', dependency, `call to ${dependency} rejected: breaker open`, details);
    },
    recordBreakerState(dependency, state, details) {
      const from = states.get(dependency) ?? 'closed';
      states.set(dependency, state);
      if (from === state) return;
      transitions.add(1, { dependency, from_state: from, to_state: state });
      log(STATE_EVENT[state], dependency, `circuit breaker for ${dependency}: ${from} -> ${state}`, details, {
        from_state: from,
        to_state: state,
      });
    },
    recordExecutor(poolType, figures) {
      executors.set(String(poolType), { ...executors.get(String(poolType)), ...figures });
    },
    recordSemaphore(dependency, available) {
      if (finite(available)) semaphores.set(dependency, available);
    },
    breakerStates: () => Object.fromEntries(states),
  };
}

type Breaker = {
  name?: string;
  options?: { name?: string; timeout?: number };
  opened?: boolean;
  halfOpen?: boolean;
  emit(event: string | symbol, ...args: unknown[]): boolean;
};

const BREAKER_EVENTS: Record<string, BreakerState> = { open: 'open', halfOpen: 'half_open', close: 'closed' };

/**
 * Observes every opossum breaker through its `emit`, so breakers the app creates before or after
 * this runs, in CommonJS or ESM, are all covered without wrapping their construction.
 */
function patchOpossum(CircuitBreaker: { prototype: Breaker }, resilience: Resilience) {
  const prototype = CircuitBreaker.prototype;
  if ((prototype as { __otelkit?: boolean }).__otelkit) return;
  (prototype as { __otelkit?: boolean }).__otelkit = true;
  const seen = new WeakSet<object>();
  const emit = prototype.emit;
  prototype.emit = function (this: Breaker, event: string | symbol, ...args: unknown[]) {
    try {
      const dependency = this.name ?? this.options?.name ?? 'unnamed';
      if (!seen.has(this)) {
        seen.add(this);
        // a breaker reports closed from its first use, so the gauge shows it before anything fails
        resilience.recordBreakerState(
          dependency,
          this.opened ? 'open' : this.halfOpen ? 'half_open' : 'closed',
        );
      }
      if (typeof event === 'string') {
        const state = BREAKER_EVENTS[event];
        if (state) resilience.recordBreakerState(dependency, state);
        else if (event === 'timeout') {
          resilience.recordTimeout(dependency, {
            error: args[0],
            durationMs: (args[1] as number) ?? this.options?.timeout,
          });
        } else if (event === 'reject') resilience.recordRejection(dependency, { error: args[0] });
        else if (event === 'fallback') resilience.recordFallback(dependency, { error: args[1] });
        else if (event === 'semaphoreLocked')
          resilience.recordBulkheadRejection(dependency, { error: args[0] });
      }
    } catch {
      // telemetry must never change what the breaker does
    }
    return emit.call(this, event, ...args);
  };
}

/** An instrumentation (CommonJS require and, with the loader hook, ESM import) for opossum. */
function opossum(resilience: Resilience): unknown {
  const { InstrumentationBase, InstrumentationNodeModuleDefinition } = loadInstrumentationApi();
  class Opossum extends InstrumentationBase {
    constructor() {
      super('otelkit-opossum', '1.0.0', {});
    }
    init() {
      return [
        new InstrumentationNodeModuleDefinition('opossum', ['>=6 <11'], (module) => {
          const namespace = module as { default?: { prototype: Breaker }; prototype?: Breaker };
          const CircuitBreaker = (namespace.prototype ? namespace : namespace.default) as
            { prototype: Breaker } | undefined;
          if (CircuitBreaker?.prototype) patchOpossum(CircuitBreaker, resilience);
          return module;
        }),
      ];
    }
  }
  return new Opossum();
}

/** opossum breakers report their states and rejections with no code change. */
export const opossumInstrumentation: Instrumentation = {
  name: 'otelkit-opossum',
  kind: 'own',
  modules: ['opossum'],
  enable: ({ resilience }) => [opossum(resilience)],
};
