import { format, inspect } from 'node:util';
import { SeverityNumber, context, trace, type Context } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api';
import { REQUEST_STATE, type RequestState } from '../trace/context.ts';
import type { Redactor } from '../redact/redact.ts';
import {
  CODE_FUNCTION_ATTRIBUTE,
  CODE_LINE_ATTRIBUTE,
  FRONTEND_ATTRIBUTE,
  LOG_CLASS_ATTRIBUTE,
  REQUEST_ID_ATTRIBUTE,
  UNKNOWN_FRONTEND,
  type PreloadSettings,
} from '../settings.ts';

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

/** The standard's `func_name` and `lineno`: the function that emitted a record, and its line. */
export interface Callsite {
  function: string;
  line: number;
}

/**
 * Where a record's callsite is found: the first frame of the app's own code among the `limit`
 * frames above (the callers of) `above`, a function of the preload's still on the stack. One
 * object per call path, made once.
 */
export interface CallerOf {
  above: (...args: never[]) => unknown;
  limit: number;
}

export interface LogSink {
  /** `caller` defaults to the app's code that called into the preload, within a few frames. */
  write(
    level: Level,
    logger: string,
    message: string,
    fields?: Record<string, unknown>,
    logClass?: string,
    caller?: CallerOf | Callsite,
  ): void;
  /**
   * For logging libraries, whose own level already filtered the record: emits the OTLP record
   * and returns the JSON line (no newline) for the library's transport to print, once.
   */
  format(
    level: Level,
    logger: string,
    message: string,
    fields: Record<string, unknown> | undefined,
    caller: CallerOf | Callsite,
  ): string;
  /** Whether a record at `level` is written: the threshold, or a debug-token request's debug records. */
  enabled(level: Level): boolean;
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

const structuredStack = (_error: Error, frames: NodeJS.CallSite[]) => frames;

/**
 * At most `limit` frames above `above`, as V8's call sites. Measured on Node 24 (2 shared cores):
 * in a hot loop ~4.3 us for the one frame console.log needs, against ~4.8 us reading it as stack
 * text and ~4.9-7 us for util.getCallSites(2), which also cannot skip the preload's frames by
 * function; inside a real Express request, where the stack's code is cold, ~16 us, against ~18-22 us
 * as text and ~14.5 us for util.getCallSites(2). V8 also walks each frame between the capture and
 * `above` (~0.7 us each), so every call path captures where it enters the preload and asks for no
 * more frames than it needs. Per line that is most of the cost: 20,000 console.log calls from a
 * 25-frame stack took ~20 us of CPU each with it, ~11.5 us without (median of 5 runs, alternated 5
 * times with the build before); one console.log in an Express handler ~60 us with it, ~33 us
 * without (wall time, load ~5). `npm run bench:preload`'s app does not log, so its figures do not
 * move.
 */
function framesAbove(above: CallerOf['above'], limit: number): readonly NodeJS.CallSite[] {
  const { prepareStackTrace, stackTraceLimit } = Error;
  const holder: { stack?: unknown } = {};
  try {
    Error.prepareStackTrace = structuredStack;
    Error.stackTraceLimit = limit;
    Error.captureStackTrace(holder, above);
    // V8 builds .stack on first read, with whatever prepareStackTrace is set then
    const frames = holder.stack;
    return Array.isArray(frames) ? (frames as NodeJS.CallSite[]) : [];
  } catch {
    return [];
  } finally {
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** The preload's own files (the bundle and its chunks): frames there are never the callsite. */
const PRELOAD_FILES = new URL('.', import.meta.url).href;
const UNKNOWN_CALLSITE: Callsite = { function: '<unknown>', line: 0 };
/** How far a callsite is looked for when the nearest frames are Node's or the preload's own. */
const CALLER_FRAMES = 8;

const siteOf = (frame: NodeJS.CallSite | undefined): Callsite =>
  frame
    ? {
        // V8's own wording for functions without a name (a module's top level, a callback)
        function: frame.getFunctionName() || frame.getMethodName() || '<anonymous>',
        line: frame.getLineNumber() ?? 0,
      }
    : UNKNOWN_CALLSITE;

/**
 * The first frame of the app's own code: outside Node, the preload and node_modules (a logging
 * library's frames, or a resilience library's); else the first outside Node and the preload (a
 * library that logged from its own callback, a dependency's own console.log); else the nearest.
 * Where the nearest frames are all Node's or the preload's (console.table goes through Node's
 * console; a callback passed to Array.forEach), it looks further.
 */
export function callsite(caller: CallerOf): Callsite {
  const near = framesAbove(caller.above, caller.limit);
  const found = appFrame(near);
  if (found || caller.limit >= CALLER_FRAMES) return siteOf(found ?? near[0]);
  const far = framesAbove(caller.above, CALLER_FRAMES);
  return siteOf(appFrame(far) ?? far[0]);
}

function appFrame(frames: readonly NodeJS.CallSite[]) {
  let outside: NodeJS.CallSite | undefined;
  for (const frame of frames) {
    const file = frame.getFileName();
    if (!file || file.startsWith('node:') || file.startsWith(PRELOAD_FILES)) continue;
    if (!file.includes('/node_modules/') && !file.includes('\\node_modules\\')) return frame;
    outside ??= frame;
  }
  return outside;
}

const STACK_FRAME = /^\s+at (?:(?:async )?(.*?) \()?(.*?):(\d+):\d+\)?$/m;

/** Where an error was thrown, from the first frame of its stack text (what the Python bootstrap reports). */
export function thrownAt(error: unknown): Callsite | undefined {
  const stack = error instanceof Error ? error.stack : undefined;
  const frame = typeof stack === 'string' ? STACK_FRAME.exec(stack) : null;
  if (!frame) return undefined;
  // "Type.method [as alias]" or "new Type" in the text; the standard's func_name is the bare name
  const name = frame[1]
    ?.replace(/ \[as [^\]]+\]$/, '')
    .replace(/^new /, '')
    .split('.')
    .pop();
  return { function: name || '<anonymous>', line: Number(frame[3]) };
}

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
    caller: CallerOf | Callsite,
  ) => {
    const site = 'above' in caller ? callsite(caller) : caller;
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
      func_name: site.function,
      lineno: site.line,
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
        [CODE_FUNCTION_ATTRIBUTE]: site.function,
        [CODE_LINE_ATTRIBUTE]: site.line,
        [LOG_CLASS_ATTRIBUTE]: state?.debug && level === 'debug' ? 'debug' : logClass,
        ...(state ? { [REQUEST_ID_ATTRIBUTE]: state.requestId, [FRONTEND_ATTRIBUTE]: state.frontend } : {}),
        ...(source !== undefined ? { source } : {}),
        ...definedOnly(extra),
      },
    });
    return stringifyLine(line, extra);
  };
  // records with no caller of their own name the app's code that called into the preload (a
  // resilience API, say), else whatever ran the preload's code
  const callerOfWrite: CallerOf = { above: () => undefined, limit: CALLER_FRAMES };
  const write: LogSink['write'] = (
    level,
    logger,
    rawMessage,
    fields,
    logClass = 'application',
    caller = callerOfWrite,
  ) => {
    const active: Context = context.active();
    const state = requestState(active);
    // a valid debug token lowers the threshold for its own request only; below the threshold
    // nothing is formatted, redacted or allocated, and no stack is captured
    if (RANK[level] < threshold && !(state?.debug && level === 'debug')) return;
    const line = record(level, logger, rawMessage, fields, logClass, active, state, caller);
    (toStderr(level) ? stderr : stdout)(`${line}\n`);
  };
  callerOfWrite.above = write;
  return {
    write,
    enabled(level) {
      return (
        RANK[level] >= threshold || (level === 'debug' && requestState(context.active())?.debug === true)
      );
    },
    format(level, logger, rawMessage, fields, caller) {
      const active: Context = context.active();
      const state = requestState(active);
      return record(level, logger, rawMessage, fields, 'application', active, state, caller);
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
  const write = (level: Level, message: () => string, args: readonly unknown[], caller: Callsite) => {
    try {
      sink.write(level, 'console', message(), undefined, undefined, caller);
    } catch {
      try {
        sink.write(level, 'console', redactor.text(format(...args)), undefined, undefined, caller);
      } catch {
        // an argument even util.format cannot print: nothing to log
      }
    }
  };
  // The callsite is the frame that called the console method: one frame, the cheapest stack to
  // take, taken in the method itself, since V8 walks each frame between the capture and `above`
  // (~0.7 us a frame), and only for a record that is written.
  const callerOf = (above: CallerOf['above']): CallerOf => ({ above, limit: 1 });
  const methods: [keyof Console, Level][] = [
    ['log', 'info'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['warn', 'warning'],
    ['error', 'error'],
  ];
  for (const [method, level] of methods) {
    // objects are redacted by key before formatting, so `{ password: ... }` never reaches the text
    const replacement = (...args: unknown[]) => {
      if (!sink.enabled(level)) return;
      write(level, () => format(...args.map((arg) => redactor.data(arg, true))), args, callsite(caller));
    };
    const caller = callerOf(replacement);
    target[method] = replacement;
  }
  const dir = (value: unknown, options?: object) => {
    if (!sink.enabled('info')) return;
    write(
      'info',
      () => inspect(redactor.data(value, true), { customInspect: false, ...options }),
      [value],
      callsite(dirCaller),
    );
  };
  const dirCaller = callerOf(dir);
  target.dir = dir;
  // console.table renders through this.log, which is ours; it only needs the data redacted first
  const table = console.table.bind(console);
  const ownTable = (data: unknown, properties?: readonly string[]) => {
    try {
      table(redactor.data(data, true), properties);
    } catch {
      if (sink.enabled('info'))
        write('info', () => inspect(redactor.data(data, true)), [data], callsite(tableCaller));
    }
  };
  const tableCaller = callerOf(ownTable);
  target.table = ownTable;
  // what bare Node prints to stderr: "Trace: message" and the caller's stack; logged at info,
  // not debug, because the app asked for it to be printed
  const traceCaller = callerOf(trace);
  target.trace = trace;
  function trace(...args: unknown[]) {
    if (!sink.enabled('info')) return;
    const stack = { name: 'Trace', message: '', stack: '' };
    Error.captureStackTrace(stack, trace);
    write(
      'info',
      () => {
        const message = format(...args.map((arg) => redactor.data(arg, true)));
        return `Trace${message ? `: ${message}` : ''}${stack.stack.slice(stack.stack.indexOf('\n'))}`;
      },
      args,
      callsite(traceCaller),
    );
  }
}
