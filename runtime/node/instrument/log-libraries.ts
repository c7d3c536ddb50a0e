import { isEsmNamespace, loadInstrumentationApi } from './api.ts';
import { callsite, printTo, toStderr, type CallerOf, type Level, type LogSink } from '../logs/sink.ts';
import type { Instrumentation } from './registry.ts';

/**
 * pino and winston output becomes the same JSON lines as console output, and each record is
 * emitted once as an OTLP log. pino: every logger (and its children) writes to a destination of
 * ours, which reads the record pino already assembled and prints the brief's line in its place.
 * winston: the logger's format is wrapped, so every transport prints the brief's line and the
 * OTLP record is emitted once per log call, not once per transport. The libraries' own levels
 * still decide what is logged, except that a request carrying a valid debug token also logs its
 * debug records. Loaded only when the app has one of them.
 */

const PINO_LEVELS: Record<string, Level> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
  fatal: 'critical',
};
const WINSTON_LEVELS: Record<string, Level> = {
  error: 'error',
  warn: 'warning',
  info: 'info',
  http: 'info',
  verbose: 'debug',
  debug: 'debug',
  silly: 'debug',
};
const PINO_DROPPED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'message', 'v']);

type Fn = ((...args: unknown[]) => unknown) & Record<string | symbol, unknown>;
interface PinoLogger {
  levels: { labels: Record<number, string>; values: Record<string, number> };
  level: string;
  isLevelEnabled?(level: string): boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  emit: unknown;
  [key: string]: unknown;
  [key: symbol]: unknown;
}

/**
 * Where the logger's level drops `debug`, pino has made the method a no-op; in its place goes one
 * that, for a debug-token request only, logs through a throwaway child of the logger set to debug,
 * so pino formats the record exactly as it would its own. The logger itself (and its children,
 * which inherit the method) keeps its level, and no `level-change` event is seen by the app.
 */
function logDebugRequests(logger: PinoLogger, sink: LogSink) {
  if (logger.levels.values.debug === undefined || logger.isLevelEnabled?.('debug') !== false) return;
  logger.debug = function (this: PinoLogger, ...args: unknown[]) {
    if (!sink.debugRequest()) return;
    const once = Object.create(this) as PinoLogger;
    once.emit = () => false;
    once.level = 'debug';
    (once.debug as (...a: unknown[]) => void)(...args);
  };
}

/**
 * Frames between a destination's write and the app's `log.info(...)`: pino's write and LOG; a
 * logMethod hook or a child adds one or two.
 */
const PINO_FRAMES = 5;
/**
 * Between the format's transform and the app's `logger.info(...)`: winston's _transform, five of
 * readable-stream's and winston's level method; a child logger's write adds one.
 */
const WINSTON_FRAMES = 10;

export function pinoDestination(sink: LogSink, labels: Record<number, string>, messageKey: string) {
  const caller: CallerOf = { above: () => undefined, limit: PINO_FRAMES };
  const destination = {
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 0,
    write(line: string) {
      // first, while the fewest of the preload's frames are on the stack
      const site = callsite(caller);
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        sink.write('info', 'pino', line.trimEnd(), undefined, undefined, site);
        return;
      }
      const label = labels[Number(record.level)] ?? 'info';
      const fields: Record<string, unknown> = {};
      let any = false;
      for (const key in record) {
        if (PINO_DROPPED.has(key) || key === messageKey) continue;
        fields[key] = record[key];
        any = true;
      }
      const level = PINO_LEVELS[label] ?? 'info';
      const text = sink.format(
        level,
        typeof record.name === 'string' ? record.name : 'pino',
        String(record[messageKey] ?? ''),
        any ? fields : undefined,
        site,
      );
      printTo(toStderr(level) ? process.stderr : process.stdout)(`${text}\n`);
    },
  };
  caller.above = destination.write;
  return destination;
}

function patchPino(exports: Fn, sink: LogSink): Fn {
  const symbols = exports.symbols as Record<string, symbol> | undefined;
  if (typeof exports !== 'function' || !symbols?.streamSym) return exports;
  const patched = Object.assign(function (this: unknown, ...args: unknown[]) {
    const logger = exports.apply(this, args) as PinoLogger;
    try {
      const messageKey = (logger[symbols.messageKeySym!] as string | undefined) ?? 'msg';
      logger[symbols.streamSym!] = pinoDestination(sink, logger.levels.labels, messageKey);
      logDebugRequests(logger, sink);
      // a level set later (on the logger or on a child, which shares its listeners) resets the
      // methods, so the debug one is put back each time
      logger.on('level-change', (...args: unknown[]) => {
        const changed = args[4] as PinoLogger | undefined;
        if (changed && typeof changed === 'object') logDebugRequests(changed, sink);
      });
    } catch {
      // an unexpected pino shape keeps the app's own output
    }
    return logger;
  }, exports) as Fn;
  if (typeof patched.pino === 'function') patched.pino = patched;
  if (typeof patched.default === 'function') patched.default = patched;
  return patched;
}

interface WinstonFormat {
  transform(
    info: Record<string | symbol, unknown>,
    options?: unknown,
  ): Record<string | symbol, unknown> | boolean;
  options?: unknown;
}

function patchWinston(exports: Record<string, unknown>, sink: LogSink) {
  const createLogger = exports.createLogger as ((...args: unknown[]) => Record<string, unknown>) | undefined;
  if (typeof createLogger !== 'function') return;
  const MESSAGE = Symbol.for('message');
  const LEVEL = Symbol.for('level');
  exports.createLogger = (...args: unknown[]) => {
    const logger = createLogger(...args);
    let inner = logger.format as WinstonFormat | undefined;
    const caller: CallerOf = { above: () => undefined, limit: WINSTON_FRAMES };
    const wrapped: WinstonFormat = {
      transform(info, options) {
        const out = inner ? inner.transform(info, inner.options ?? options) : info;
        if (!out || out === true) return out;
        // LEVEL rather than level, which a colorize format may have dressed in escape codes
        const label = String(out[LEVEL] ?? out.level);
        const level = WINSTON_LEVELS[label] ?? 'info';
        const levels = logger.levels as Record<string, number> | undefined;
        const rank = levels?.[label];
        const printed = levels && mostVerbosePrinted(logger, levels);
        if (rank !== undefined && printed !== undefined && rank > printed.rank) {
          // no transport prints it, so no OTLP record either; except a debug-token request's debug
          // records, which pass as the most verbose level a transport prints and still read debug
          if (level !== 'debug' || !sink.debugRequest()) return out;
          out[LEVEL] = printed.name;
        }
        const fields: Record<string, unknown> = {};
        let any = false;
        for (const key of Object.keys(out)) {
          if (key === 'level' || key === 'message' || key === 'timestamp' || key === 'logger') continue;
          fields[key] = out[key];
          any = true;
        }
        const message = typeof out.message === 'string' ? out.message : JSON.stringify(out.message);
        const name =
          typeof logger.defaultMeta === 'object' && logger.defaultMeta
            ? (logger.defaultMeta as { logger?: unknown }).logger
            : undefined;
        out[MESSAGE] = sink.format(
          level,
          typeof name === 'string' ? name : 'winston',
          message,
          any ? fields : undefined,
          callsite(caller),
        );
        return out;
      },
    };
    caller.above = wrapped.transform;
    Object.defineProperty(logger, 'format', {
      configurable: true,
      enumerable: true,
      get: () => wrapped,
      set: (format: WinstonFormat) => {
        inner = format;
      },
    });
    return logger;
  };
}

/**
 * The most verbose level any of the logger's transports prints (each filters by its own level,
 * else the logger's), by winston's ranks, where higher is more verbose.
 */
function mostVerbosePrinted(logger: Record<string, unknown>, levels: Record<string, number>) {
  const transports = logger.transports as { level?: unknown }[] | undefined;
  let printed: { name: string; rank: number } | undefined;
  for (const transport of transports ?? []) {
    const name = typeof transport.level === 'string' ? transport.level : logger.level;
    const rank = typeof name === 'string' ? levels[name] : undefined;
    if (rank !== undefined && (!printed || rank > printed.rank)) printed = { name: name as string, rank };
  }
  return printed;
}

/** Instrumentations (CommonJS require and, with the loader hook, ESM import) for pino and winston. */
function logLibraryInstrumentations(present: readonly string[], sink: LogSink): unknown[] {
  const { InstrumentationBase, InstrumentationNodeModuleDefinition } = loadInstrumentationApi();
  class LogLibraries extends InstrumentationBase {
    constructor() {
      super('otelkit-log-libraries', '1.0.0', {});
    }
    init() {
      const definitions: unknown[] = [];
      if (present.includes('pino')) {
        definitions.push(
          new InstrumentationNodeModuleDefinition('pino', ['>=7 <11'], (module) => {
            if (!isEsmNamespace(module)) return patchPino(module as Fn, sink);
            const namespace = module as Record<string, unknown>;
            const patched = patchPino(namespace.default as Fn, sink);
            namespace.default = patched;
            if (typeof namespace.pino === 'function') namespace.pino = patched;
            return namespace;
          }),
        );
      }
      if (present.includes('winston')) {
        definitions.push(
          new InstrumentationNodeModuleDefinition('winston', ['>=3 <4'], (module) => {
            const namespace = module as Record<string, unknown>;
            if (isEsmNamespace(module)) {
              patchWinston(namespace.default as Record<string, unknown>, sink);
              namespace.createLogger = (namespace.default as Record<string, unknown>).createLogger;
            } else patchWinston(namespace, sink);
            return namespace;
          }),
        );
      }
      return definitions;
    }
  }
  return [new LogLibraries()];
}

export const logLibraryInstrumentation: Instrumentation = {
  name: 'otelkit-log-libraries',
  kind: 'log-library',
  modules: ['pino', 'winston'],
  lost: 'pino/winston output not captured',
  enable: ({ sink }, present) => logLibraryInstrumentations(present, sink),
};
