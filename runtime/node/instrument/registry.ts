import { createRequire, register } from 'node:module';
import path from 'node:path';
import type { Attributes, Counter } from '@opentelemetry/api';
import type { LogSink } from '../logs/sink.ts';
import type { DurationHistogram } from '../metrics/histogram.ts';
import type { PreloadSettings } from '../settings.ts';
import type { EnterableContextManager } from '../trace/context.ts';
import type { LeanTracer } from '../trace/tracer.ts';
import { httpInstrumentation } from './http.ts';
import { LIBRARY_INSTRUMENTATIONS, uncoveredLibraries } from './libraries.ts';
import { logLibraryInstrumentation } from './log-libraries.ts';
import { opossumInstrumentation, type Resilience } from './resilience.ts';

/**
 * Every instrumentation of the Node preload, whatever it patches, is one entry of INSTRUMENTATIONS
 * below and is started by `enableInstrumentations`, the one place that decides what loads: Node's
 * own diagnostics channels always, a module patch only when the app has its package (each costs
 * start-up time and memory even when its package never loads).
 */

/** What an instrumentation is given: the preload's signals, its settings and its redaction. */
export interface InstrumentationContext {
  settings: PreloadSettings;
  env: Readonly<Record<string, string | undefined>>;
  warn(message: string): void;
  tracer: LeanTracer;
  /** `http.server.request.duration`, the RED metrics' histogram, by method, status, route and frontend. */
  duration: DurationHistogram;
  /** X-Debug-Token headers that were invalid or expired. */
  debugRejected: Counter;
  contextManager: EnterableContextManager;
  sink: LogSink;
  /** An `audit` class log record. */
  audit(message: string, attributes: Attributes): void;
  /** Raw paths can carry personal data (`/users/bob@example.com`); routes become metric labels. */
  redactText(text: string): string;
  /** The OTLP endpoints the preload exports to (its own requests are not traced). */
  exportUrls: string[];
  resilience: Resilience;
}

/**
 * - `channel`: subscribes to Node's diagnostics channels (and patches Node's own classes); needs
 *   no module hook, so it covers every copy of a framework an app loads.
 * - `library`: an @opentelemetry/instrumentation-* package (databases, caches, Koa).
 * - `log-library`: pino and winston output becomes the preload's JSON lines and OTLP records.
 * - `own`: a module patch of the preload's own (opossum's breakers).
 * The last three return @opentelemetry/instrumentation objects, registered together with the ESM
 * loader hook.
 */
export type InstrumentationKind = 'channel' | 'library' | 'log-library' | 'own';

export interface Instrumentation {
  name: string;
  kind: InstrumentationKind;
  /** The packages it instruments: enabled only when the app has one. None for a `channel` one. */
  modules: readonly string[];
  /** Major versions of its package it patches, from the first up to but not including the second. */
  majors?: readonly [number, number];
  /** What the app goes without when enabling fails (a warning; the app and the preload carry on). */
  lost?: string;
  /** Starts it, given the modules of `modules` the app has; module patches return their instrumentations. */
  enable(context: InstrumentationContext, present: readonly string[]): readonly unknown[] | void;
}

/** In the order they are enabled. A new instrumentation goes here. */
export const INSTRUMENTATIONS: readonly Instrumentation[] = [
  httpInstrumentation,
  logLibraryInstrumentation,
  opossumInstrumentation,
  ...LIBRARY_INSTRUMENTATIONS,
];

function appHas(appRequire: NodeJS.Require, name: string) {
  try {
    appRequire.resolve(name);
    return true;
  } catch (error) {
    // a package that exists but exports no CommonJS entry is still present
    return (error as { code?: string }).code !== 'MODULE_NOT_FOUND';
  }
}

/**
 * Enables the channel instrumentations, then those of the app's packages. A channel one failing
 * stops the preload (it is the core of it: start() reports that and leaves the app untouched); a
 * module patch failing costs a warning. Returns the names of the packages instrumented.
 */
export function enableInstrumentations(
  context: InstrumentationContext,
  esm: boolean,
  instrumentations: readonly Instrumentation[] = INSTRUMENTATIONS,
): string[] {
  for (const instrumentation of instrumentations) {
    if (instrumentation.kind === 'channel') instrumentation.enable(context, []);
  }
  const appRequire = createRequire(path.join(process.cwd(), 'package.json'));
  const present = instrumentations.flatMap((instrumentation) => {
    if (instrumentation.kind === 'channel') return [];
    const modules = instrumentation.modules.filter((name) => appHas(appRequire, name));
    return modules.length > 0 ? [{ instrumentation, modules }] : [];
  });
  uncoveredLibraries(
    process.cwd(),
    present.flatMap(({ modules }) => modules),
    instrumentations,
  ).forEach(context.warn);
  if (present.length === 0) return [];
  const enabled: unknown[] = [];
  for (const { instrumentation, modules } of present) {
    try {
      enabled.push(...(instrumentation.enable(context, modules) ?? []));
    } catch (error) {
      const lost = instrumentation.lost ?? `instrumentation for ${modules.join(', ')} not loaded`;
      context.warn(`${lost}: ${(error as Error).message}`);
    }
  }
  if (esm) {
    // ESM imports are patched only through a loader hook registered before the app loads
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  }
  const { registerInstrumentations } = createRequire(import.meta.url)('@opentelemetry/instrumentation') as {
    registerInstrumentations(options: { instrumentations: unknown[] }): void;
  };
  registerInstrumentations({ instrumentations: enabled });
  return present.flatMap(({ modules }) => modules);
}
