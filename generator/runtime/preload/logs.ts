import { format, inspect } from 'node:util';
import { SeverityNumber, context, trace, type Context } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api';
import { REQUEST_STATE, type RequestState } from './context.ts';
import type { Redactor } from './redact.ts';
import {
  FRONTEND_ATTRIBUTE,
  LOG_CLASS_ATTRIBUTE,
  REQUEST_ID_ATTRIBUTE,
  UNKNOWN_FRONTEND,
  type PreloadSettings,
} from './settings.ts';

/**
 * Console output becomes one JSON line per call with the brief's fields, and the same record is
 * emitted once as an OTLP log, so the Collector gets it without scraping stdout (no duplicates:
 * the line is for humans and container logs, the OTLP record is the one the pipeline stores).
 */

/** The standard's levels, spelled as its structured-field table and jq filters spell them. */
export type Level = 'debug' | 'info' | 'warning' | 'error' | 'critical';
const RANK: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3, critical: 4 };
const SEVERITY: Record<Level, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warning: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  critical: SeverityNumber.FATAL,
};
/** Warnings and worse go to stderr, as bare Node's console.warn and console.error do. */
export const toStderr = (level: Level) => RANK[level] >= RANK.warning;
/** The spec's `warn` is the standard's `warning`. */
const levelOf = (level: string): Level | undefined =>
  level === 'warn' ? 'warning' : level in RANK ? (level as Level) : undefined;

export interface LogSink {
  write(
    level: Level,
    logger: string,
    message: string,
    fields?: Record<string, unknown>,
    logClass?: string,
  ): void;
  /**
   * For logging libraries, whose own level already filtered the record: emits the OTLP record
   * and returns the JSON line (no newline) for the library's transport to print, once.
   */
  format(level: Level, logger: string, message: string, fields?: Record<string, unknown>): string;
  /**
   * Whether the active request carries a valid debug token: its debug records are logged even
   * where the logger's own level would drop them.
   */
  debugRequest(): boolean;
}

const printers = new Map<NodeJS.WriteStream, (text: string) => void>();

/**
 * Writes to stdout or stderr until a write fails (a closed pipe: `node app | head`), then stops
 * writing there. Node's stdio streams are never destroyed, so each later write would fail again,
 * raise another uncaught error, whose log line would write again: a loop of next ticks that starves
 * the event loop, so the flush and the exit that should follow an uncaught error never came.
 */
export function printTo(stream: NodeJS.WriteStream): (text: string) => void {
  let printer = printers.get(stream);
  if (!printer) {
    let failed = false;
    const onWritten = (error?: Error | null) => {
      if (error) failed = true;
    };
    printer = (text: string) => {
      if (!failed) stream.write(text, onWritten);
    };
    printers.set(stream, printer);
  }
  return printer;
}

const requestState = (active: Context) => active.getValue(REQUEST_STATE) as RequestState | undefined;

export function createLogSink(settings: PreloadSettings, otelLogger: Logger, redactor: Redactor): LogSink {
  const threshold = RANK[levelOf(settings.logLevel) ?? 'info'];
  const stdout = printTo(process.stdout);
  const stderr = printTo(process.stderr);
  const record = (
    level: Level,
    logger: string,
    rawMessage: string,
    fields: Record<string, unknown> | undefined,
    logClass: string,
    active: Context,
    state: RequestState | undefined,
  ) => {
    const spanContext = trace.getSpanContext(active);
    const message = redactor.text(rawMessage);
    const extra = fields ? (redactor.data(fields) as Record<string, unknown>) : undefined;
    // the standard's `source`: in HTTP context the frontend that sent the request, when it is known
    const source =
      state && state.frontend !== UNKNOWN_FRONTEND && extra?.source === undefined
        ? state.frontend
        : undefined;
    const line = {
      timestamp: new Date().toISOString(),
      level,
      logger,
      message,
      // the standard's name for the message (structlog's); `message` stays for Loki and humans
      event: message,
      ...(source !== undefined ? { source } : {}),
      service: settings.service,
      environment: settings.environment,
      [REQUEST_ID_ATTRIBUTE]: state?.requestId,
      trace_id: spanContext?.traceId,
      span_id: spanContext?.spanId,
      [FRONTEND_ATTRIBUTE]: state?.frontend ?? UNKNOWN_FRONTEND,
      ...(logClass !== 'application' ? { [LOG_CLASS_ATTRIBUTE]: logClass } : {}),
      ...extra,
    };
    otelLogger.emit({
      severityNumber: SEVERITY[level],
      severityText: level.toUpperCase(),
      body: message,
      context: active,
      attributes: {
        'logger.name': logger,
        [LOG_CLASS_ATTRIBUTE]: state?.debug && level === 'debug' ? 'debug' : logClass,
        ...(state ? { [REQUEST_ID_ATTRIBUTE]: state.requestId, [FRONTEND_ATTRIBUTE]: state.frontend } : {}),
        ...(source !== undefined ? { source } : {}),
        ...definedOnly(extra),
      },
    });
    return stringifyLine(line, extra);
  };
  return {
    write(level, logger, rawMessage, fields, logClass = 'application') {
      const active: Context = context.active();
      const state = requestState(active);
      // a valid debug token lowers the threshold for its own request only; below the threshold
      // nothing is formatted, redacted or allocated
      if (RANK[level] < threshold && !(state?.debug && level === 'debug')) return;
      const line = record(level, logger, rawMessage, fields, logClass, active, state);
      (toStderr(level) ? stderr : stdout)(`${line}\n`);
    },
    format(level, logger, rawMessage, fields) {
      const active: Context = context.active();
      const state = requestState(active);
      return record(level, logger, rawMessage, fields, 'application', active, state);
    },
    debugRequest() {
      return requestState(context.active())?.debug === true;
    },
  };
}

/** OTLP attributes have no null: the JSON line keeps `attempt: null`, the record leaves it out. */
function definedOnly(extra: Record<string, unknown> | undefined) {
  if (!extra) return undefined;
  const out: Record<string, string> = {};
  for (const key in extra)
    if (extra[key] !== null && extra[key] !== undefined) out[key] = extra[key] as string;
  return out;
}

/**
 * The copies are redacted already; what is left to fail is the app's own data (a toJSON that
 * throws): the line is then written without its fields rather than not at all.
 */
function stringifyLine(line: Record<string, unknown>, extra: Record<string, unknown> | undefined) {
  try {
    return JSON.stringify(line);
  } catch (error) {
    const bare = { ...line };
    for (const key in extra) delete bare[key];
    bare.fields_error = error instanceof Error ? error.message : String(error);
    return JSON.stringify(bare);
  }
}

/**
 * Each console method writes what bare Node would print, redacted, as one record; none of them
 * throws where bare Node would not (a getter, a revoked Proxy or a trap that throws prints as
 * util.inspect prints it, without running it).
 */
export function captureConsole(sink: LogSink, redactor: Redactor) {
  const target = console as unknown as Record<string, unknown>;
  const write = (level: Level, message: () => string, args: readonly unknown[]) => {
    try {
      sink.write(level, 'console', message());
    } catch {
      try {
        sink.write(level, 'console', redactor.text(format(...args)));
      } catch {
        // an argument even util.format cannot print: nothing to log
      }
    }
  };
  const methods: [keyof Console, Level][] = [
    ['log', 'info'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['warn', 'warning'],
    ['error', 'error'],
  ];
  for (const [method, level] of methods) {
    // objects are redacted by key before formatting, so `{ password: ... }` never reaches the text
    target[method] = (...args: unknown[]) =>
      write(level, () => format(...args.map((arg) => redactor.data(arg, true))), args);
  }
  target.dir = (value: unknown, options?: object) =>
    write('info', () => inspect(redactor.data(value, true), { customInspect: false, ...options }), [value]);
  // console.table renders through this.log, which is ours; it only needs the data redacted first
  const table = console.table.bind(console);
  target.table = (data: unknown, properties?: readonly string[]) => {
    try {
      table(redactor.data(data, true), properties);
    } catch {
      write('info', () => inspect(redactor.data(data, true)), [data]);
    }
  };
  // what bare Node prints to stderr: "Trace: message" and the caller's stack; logged at info,
  // not debug, because the app asked for it to be printed
  target.trace = function trace(...args: unknown[]) {
    const stack = { name: 'Trace', message: '', stack: '' };
    Error.captureStackTrace(stack, trace);
    write(
      'info',
      () => {
        const message = format(...args.map((arg) => redactor.data(arg, true)));
        return `Trace${message ? `: ${message}` : ''}${stack.stack.slice(stack.stack.indexOf('\n'))}`;
      },
      args,
    );
  };
}
