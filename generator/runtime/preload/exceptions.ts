import { inspect } from 'node:util';
import { SpanStatusCode, trace, type Counter } from '@opentelemetry/api';
import { printTo, type LogSink } from './logs.ts';

/**
 * Uncaught exceptions and unhandled rejections: logged at error with the stack and the request's
 * ids (the log sink adds request_id and trace_id from the active context), recorded on the active
 * span, counted by type, and flushed before the process ends the way Node would have ended it.
 * When the app has its own handlers they decide; the preload only records.
 */

export type ExceptionOrigin = 'uncaught_exception' | 'unhandled_rejection';

export interface ExceptionCapture {
  sink: LogSink;
  counter: Counter;
  /** Bounded flush of every signal; resolves whether or not it completed. */
  flush(): Promise<unknown>;
}

function rejectionMode(): string {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flag = flags.find((value) => value.startsWith('--unhandled-rejections='));
  return flag ? flag.slice('--unhandled-rejections='.length) : 'throw';
}

const typeOf = (error: unknown) =>
  error instanceof Error ? error.name || 'Error' : error === null ? 'null' : typeof error;

export function captureExceptions({ sink, counter, flush }: ExceptionCapture) {
  const record = (error: unknown, origin: ExceptionOrigin) => {
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
      sink.write(
        'error',
        'otelkit.exceptions',
        `${origin === 'uncaught_exception' ? 'uncaught exception' : 'unhandled rejection'}: ${message}`,
        {
          exception_type: type,
          exception_stacktrace: error instanceof Error ? error.stack : undefined,
          origin,
        },
      );
    } catch {
      // recording must never turn one failure into two
    }
  };

  let dying = false;
  const dieAsNodeWould = (error: unknown) => {
    if (dying) return;
    dying = true;
    void flush().finally(() => {
      printTo(process.stderr)(`${inspect(error)}\n\nNode.js ${process.version}\n`);
      process.exit(1);
    });
  };

  process.on('uncaughtExceptionMonitor', (error) => record(error, 'uncaught_exception'));
  const onUncaught = (error: Error) => {
    // listening disables Node's own crash; only stand in for it when the app has no handler
    if (process.listenerCount('uncaughtException') > 1) return;
    dieAsNodeWould(error);
  };
  process.on('uncaughtException', onUncaught);

  const mode = rejectionMode();
  process.on('unhandledRejection', (reason) => {
    record(reason, 'unhandled_rejection');
    if (process.listenerCount('unhandledRejection') > 1) return;
    if (mode === 'warn-with-error-code') process.exitCode = 1;
    if (mode === 'strict' || mode === 'throw') dieAsNodeWould(reason);
    else if (mode === 'warn' || mode === 'warn-with-error-code') {
      process.stderr.write(`(node:${process.pid}) unhandled rejection: ${inspect(reason)}\n`);
    }
  });
}
