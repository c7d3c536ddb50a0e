import { inspect } from 'node:util';
import { SpanStatusCode, context, trace, type Counter } from '@opentelemetry/api';
import { THROWN_IN } from '../trace/context.ts';
import { printTo, thrownAt, type LogSink } from './sink.ts';

/**
 * Uncaught exceptions and unhandled rejections: logged at error with the stack and the request's
 * ids (the log sink adds request_id and trace_id from the active context), recorded on the active
 * span, counted by type, and flushed before the process ends the way Node would have ended it.
 * When the app has its own handlers they decide; the preload only records. Node's own handling is
 * left in place wherever it can be: in the default `throw` mode (and `strict`) the preload does not
 * listen for unhandled rejections unless the app does, so Node raises them as uncaught exceptions,
 * to the app's uncaughtException handler if it has one, exactly as without the preload.
 */

export type ExceptionOrigin = 'uncaught_exception' | 'unhandled_rejection';

export interface ExceptionCapture {
  sink: LogSink;
  counter: Counter;
  /** Bounded flush of every signal; resolves whether or not it completed. */
  flush(): Promise<unknown>;
  /** The process is going down: from now on it takes no more requests, as a crashed one would not. */
  dying(): void;
}

function rejectionMode(): string {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flag = flags.find((value) => value.startsWith('--unhandled-rejections='));
  return flag ? flag.slice('--unhandled-rejections='.length) : 'throw';
}

const typeOf = (error: unknown) =>
  error instanceof Error ? error.name || 'Error' : error === null ? 'null' : typeof error;

export function captureExceptions({ sink, counter, flush, dying: stopServing }: ExceptionCapture) {
  const recorded = new WeakSet<object>();
  const record = (error: unknown, origin: ExceptionOrigin) => {
    const key =
      error !== null && (typeof error === 'object' || typeof error === 'function') ? error : undefined;
    if (key) {
      // strict mode reports one rejection both as uncaught and as unhandled
      if (recorded.has(key)) return;
      recorded.add(key);
    }
    const thrownIn = key && THROWN_IN.get(key);
    if (thrownIn) context.with(thrownIn, () => recordIn(error, origin));
    else recordIn(error, origin);
  };
  const recordIn = (error: unknown, origin: ExceptionOrigin) => {
    try {
      const type = typeOf(error);
      counter.add(1, { 'exception.type': type, origin });
      const span = trace.getActiveSpan();
      if (span?.isRecording()) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
      }
      const message = error instanceof Error ? error.message : inspect(error);
      // an uncaught exception ends the process: the standard's critical, as the Python bootstrap logs it
      sink.write(
        origin === 'uncaught_exception' ? 'critical' : 'error',
        'otelkit.exceptions',
        `${origin === 'uncaught_exception' ? 'uncaught exception' : 'unhandled rejection'}: ${message}`,
        {
          exception_type: type,
          exception_stacktrace: error instanceof Error ? error.stack : undefined,
          origin,
        },
        undefined,
        // where it was thrown, not the preload's handler that reports it
        thrownAt(error),
      );
    } catch {
      // recording must never turn one failure into two
    }
  };

  let dying = false;
  const dieAsNodeWould = (error: unknown) => {
    if (dying) return;
    dying = true;
    stopServing();
    void flush().finally(() => {
      printTo(process.stderr)(`${inspect(error)}\n\nNode.js ${process.version}\n`);
      process.exit(1);
    });
  };

  process.on('uncaughtExceptionMonitor', (error, origin) =>
    record(error, origin === 'unhandledRejection' ? 'unhandled_rejection' : 'uncaught_exception'),
  );
  const onUncaught = (error: Error) => {
    // listening disables Node's own crash; only stand in for it when the app has no handler
    if (process.listenerCount('uncaughtException') > 1) return;
    dieAsNodeWould(error);
  };
  process.on('uncaughtException', onUncaught);

  const mode = rejectionMode();
  if (mode === 'throw' || mode === 'strict') {
    // a listener of ours would stop Node raising the rejection; only beside the app's own
    const onRejection = (reason: unknown) => record(reason, 'unhandled_rejection');
    const ours = () => process.listeners('unhandledRejection').includes(onRejection);
    process.on('newListener', (event, listener) => {
      if (event === 'unhandledRejection' && listener !== onRejection && !ours())
        process.prependListener('unhandledRejection', onRejection);
    });
    process.on('removeListener', (event) => {
      if (event === 'unhandledRejection' && ours() && process.listenerCount('unhandledRejection') === 1)
        process.removeListener('unhandledRejection', onRejection);
    });
    return;
  }
  process.on('unhandledRejection', (reason) => {
    record(reason, 'unhandled_rejection');
    if (process.listenerCount('unhandledRejection') > 1) return;
    if (mode === 'warn-with-error-code') process.exitCode = 1;
    if (mode === 'warn' || mode === 'warn-with-error-code') {
      process.stderr.write(`(node:${process.pid}) unhandled rejection: ${inspect(reason)}\n`);
    }
  });
}
