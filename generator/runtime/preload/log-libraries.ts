import { isEsmNamespace, loadInstrumentationApi } from './instrumentation-api.ts';
import { printTo, type Level, type LogSink } from './logs.ts';

/**
 * pino and winston output becomes the same JSON lines as console output, and each record is
 * emitted once as an OTLP log. pino: every logger (and its children) writes to a destination of
 * ours, which reads the record pino already assembled and prints the brief's line in its place.
 * winston: the logger's format is wrapped, so every transport prints the brief's line and the
 * OTLP record is emitted once per log call, not once per transport. The libraries' own levels
 * still decide what is logged. Loaded only when the app has one of them.
 */

const PINO_LEVELS: Record<string, Level> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'error',
};
const WINSTON_LEVELS: Record<string, Level> = {
  error: 'error',
  warn: 'warn',
  info: 'info',
  http: 'info',
  verbose: 'debug',
  debug: 'debug',
  silly: 'debug',
};
const PINO_DROPPED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'message', 'v']);

type Fn = ((...args: unknown[]) => unknown) & Record<string | symbol, unknown>;
interface PinoLogger {
  levels: { labels: Record<number, string> };
  [key: symbol]: unknown;
}

export function pinoDestination(sink: LogSink, labels: Record<number, string>, messageKey: string) {
  return {
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 0,
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        sink.write('info', 'pino', line.trimEnd());
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
      );
      printTo(level === 'warn' || level === 'error' ? process.stderr : process.stdout)(`${text}\n`);
    },
  };
}

function patchPino(exports: Fn, sink: LogSink): Fn {
  const symbols = exports.symbols as Record<string, symbol> | undefined;
  if (typeof exports !== 'function' || !symbols?.streamSym) return exports;
  const patched = Object.assign(function (this: unknown, ...args: unknown[]) {
    const logger = exports.apply(this, args) as PinoLogger;
    try {
      const messageKey = (logger[symbols.messageKeySym!] as string | undefined) ?? 'msg';
      logger[symbols.streamSym!] = pinoDestination(sink, logger.levels.labels, messageKey);
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
  exports.createLogger = (...args: unknown[]) => {
    const logger = createLogger(...args);
    let inner = logger.format as WinstonFormat | undefined;
    const wrapped: WinstonFormat = {
      transform(info, options) {
        const out = inner ? inner.transform(info, inner.options ?? options) : info;
        if (!out || out === true) return out;
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
        const level = WINSTON_LEVELS[String(out.level)] ?? 'info';
        out[MESSAGE] = sink.format(
          level,
          typeof name === 'string' ? name : 'winston',
          message,
          any ? fields : undefined,
        );
        return out;
      },
    };
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

/** Instrumentations (CommonJS require and, with the loader hook, ESM import) for pino and winston. */
export function logLibraryInstrumentations(present: readonly string[], sink: LogSink): unknown[] {
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
