import type { Attributes, Meter } from '@opentelemetry/api';
import { loadInstrumentationApi } from './instrumentation-api.ts';
import type { Level, LogSink } from './logs.ts';

/**
 * Resilience events (circuit breakers, retries, timeouts, bulkhead rejections) as the standard
 * metrics, labelled by dependency, and as structured log records. opossum breakers are observed
 * with no code change; other resilience code reports through the small API exported by
 * `otelkit/preload` (recordRetry, recordTimeout, ...). The dashboards and alerts read exactly these
 * metric names (see generator/conventions.ts RESILIENCE_METRICS; a test keeps them in step).
 */

export type BreakerState = 'closed' | 'open' | 'half_open';
/** The value `circuit_breaker_state` reports, as the standard encodes it: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export const RESILIENCE_METRIC_NAMES = {
  state: 'circuit_breaker_state',
  transitions: 'circuit_breaker_transitions_total',
  retries: 'retry_attempts_total',
  timeouts: 'timeout_exceeded_total',
  bulkheadRejections: 'bulkhead_rejections_total',
} as const;

export interface ResilienceDetails {
  /** How long the attempt or call took. */
  durationMs?: number;
  /** The attempt number, 1 for the first retry. */
  attempt?: number;
  error?: unknown;
}

export interface Resilience {
  recordRetry(dependency: string, details?: ResilienceDetails): void;
  recordTimeout(dependency: string, details?: ResilienceDetails): void;
  recordBulkheadRejection(dependency: string, details?: ResilienceDetails): void;
  recordFallback(dependency: string, details?: ResilienceDetails): void;
  recordRejection(dependency: string, details?: ResilienceDetails): void;
  /** A breaker's new state; transitions are counted from the state last reported. */
  recordBreakerState(dependency: string, state: BreakerState, details?: ResilienceDetails): void;
  breakerStates(): Record<string, BreakerState>;
}

const LOGGER = 'otelkit.resilience';

const errorText = (error: unknown) =>
  error === undefined
    ? undefined
    : error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error);

export function createResilience(meter: Meter, sink: LogSink): Resilience {
  const states = new Map<string, BreakerState>();
  const transitions = meter.createCounter(RESILIENCE_METRIC_NAMES.transitions, {
    description: 'Circuit breaker state changes.',
  });
  const retries = meter.createCounter(RESILIENCE_METRIC_NAMES.retries, {
    description: 'Retried calls to a dependency.',
  });
  const timeouts = meter.createCounter(RESILIENCE_METRIC_NAMES.timeouts, {
    description: 'Calls to a dependency that exceeded their timeout.',
  });
  const bulkheadRejections = meter.createCounter(RESILIENCE_METRIC_NAMES.bulkheadRejections, {
    description: 'Calls rejected because the concurrency limit for a dependency was reached.',
  });
  meter
    .createObservableGauge(RESILIENCE_METRIC_NAMES.state, {
      description: 'Circuit breaker state (0=closed, 1=half-open, 2=open).',
    })
    .addCallback((result) => {
      for (const [dependency, state] of states) result.observe(BREAKER_STATE_VALUE[state], { dependency });
    });

  const log = (
    level: Level,
    event: string,
    dependency: string,
    message: string,
    details: ResilienceDetails = {},
    extra: Attributes = {},
  ) => {
    const fields: Record<string, unknown> = { resilience_event: event, dependency, ...extra };
    if (details.durationMs !== undefined) fields.duration_ms = Math.round(details.durationMs * 1000) / 1000;
    if (details.attempt !== undefined) fields.attempt = details.attempt;
    const error = errorText(details.error);
    if (error !== undefined) fields.error = error;
    sink.write(level, LOGGER, message, fields);
  };

  return {
    recordRetry(dependency, details) {
      retries.add(1, { dependency });
      log('warn', 'retry', dependency, `retrying ${dependency}`, details);
    },
    recordTimeout(dependency, details) {
      timeouts.add(1, { dependency });
      log('warn', 'timeout', dependency, `call to ${dependency} timed out`, details);
    },
    recordBulkheadRejection(dependency, details) {
      bulkheadRejections.add(1, { dependency });
      log(
        'warn',
        'bulkhead_rejected',
        dependency,
        `call to ${dependency} rejected: concurrency limit reached`,
        details,
      );
    },
    recordFallback(dependency, details) {
      log('info', 'fallback', dependency, `fallback used for ${dependency}`, details);
    },
    recordRejection(dependency, details) {
      log(
        'warn',
        'circuit_rejected',
        dependency,
        `call to ${dependency} short-circuited: breaker open`,
        details,
      );
    },
    recordBreakerState(dependency, state, details) {
      const from = states.get(dependency) ?? 'closed';
      states.set(dependency, state);
      if (from === state) return;
      transitions.add(1, { dependency, from_state: from, to_state: state });
      const level: Level = state === 'open' ? 'error' : state === 'half_open' ? 'warn' : 'info';
      const verb = state === 'open' ? 'opened' : state === 'half_open' ? 'half-opened' : 'closed';
      log(level, `circuit_${state}`, dependency, `circuit breaker for ${dependency} ${verb}`, details, {
        from_state: from,
        to_state: state,
      });
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
export function opossumInstrumentation(resilience: Resilience): unknown {
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
