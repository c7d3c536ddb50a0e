import type { PreloadSettings } from '../contract.ts';

export type { AdminSettings, PreloadSettings } from '../contract.ts';

export const DEFAULT_SETTINGS: PreloadSettings = {
  service: 'unknown_service:node',
  environment: 'development',
  project: 'otelkit',
  frontends: [],
  routes: [],
  redaction: { blockedKeys: [], valuePatterns: [] },
  sampler: { type: 'parentbased_always_on' },
  endpoint: 'http://127.0.0.1:4318',
  protocol: 'http/protobuf',
  logLevel: 'info',
  maxRoutes: 200,
  shutdownTimeoutMs: 3000,
};

/** Conventions shared with the Collector side; duplicated on purpose, the runtime imports no generator code. */
export const FRONTEND_ATTRIBUTE = 'frontend';
export const UNKNOWN_FRONTEND = 'unknown';
export const REQUEST_ID_ATTRIBUTE = 'request_id';
export const DEBUG_ATTRIBUTE = 'otelkit.debug';
export const LOG_CLASS_ATTRIBUTE = 'log.class';
/** OpenTelemetry's names for a log record's func_name and lineno, as the Python bootstrap exports them. */
export const CODE_FUNCTION_ATTRIBUTE = 'code.function.name';
export const CODE_LINE_ATTRIBUTE = 'code.line.number';
export const OVERFLOW_ROUTE = '/{other}';

/** A setting's JSON shape, as `parseSettings` holds what a preload file passes to it. */
interface Field {
  expected: string;
  valid(value: unknown): boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown) => typeof value === 'string';
const isNumber = (value: unknown) => typeof value === 'number' && Number.isFinite(value);
const listOf = (item: (value: unknown) => boolean) => (value: unknown) =>
  Array.isArray(value) && value.every(item);
const field = (expected: string, valid: (value: unknown) => boolean): Field => ({ expected, valid });
const STRING = field('a string', isString);
const STRINGS = field('a list of strings', listOf(isString));

/**
 * Every setting of the contract, each with its shape (a setting added there without one here does
 * not compile). Shapes only: values the runtime reads leniently (a sampler, protocol or log level
 * it does not know, which it warns about or maps where it uses them) stay its to judge.
 */
const FIELDS: { readonly [Key in keyof PreloadSettings]-?: Field } = {
  service: STRING,
  environment: STRING,
  project: STRING,
  frontends: STRINGS,
  routes: STRINGS,
  redaction: field(
    '{ blockedKeys: string[], valuePatterns: { name, regex }[] }',
    (value) =>
      isObject(value) &&
      listOf(isString)(value.blockedKeys) &&
      listOf((pattern) => isObject(pattern) && isString(pattern.name) && isString(pattern.regex))(
        value.valuePatterns,
      ),
  ),
  sampler: field(
    '{ type: string, ratio?: number }',
    (value) =>
      isObject(value) && isString(value.type) && (value.ratio === undefined || isNumber(value.ratio)),
  ),
  endpoint: STRING,
  protocol: STRING,
  logLevel: STRING,
  histogramBucketsMs: field('a list of numbers', listOf(isNumber)),
  maxRoutes: field('a number', isNumber),
  module: STRING,
  shutdownTimeoutMs: field('a number', isNumber),
  dependencies: field(
    'a list of { name: string, critical: boolean }',
    listOf(
      (dependency) =>
        isObject(dependency) && isString(dependency.name) && typeof dependency.critical === 'boolean',
    ),
  ),
  admin: field(
    '{ port, bind, tokenEnv, metrics, eventLoopDelayMs, readyWhen }',
    (value) =>
      isObject(value) &&
      Number.isInteger(value.port) &&
      isString(value.bind) &&
      isString(value.tokenEnv) &&
      typeof value.metrics === 'boolean' &&
      isNumber(value.eventLoopDelayMs) &&
      isString(value.readyWhen),
  ),
};

/**
 * The settings a preload file passed, over the defaults. A setting of the wrong shape costs a
 * warning and keeps its default (or stays unset), so one bad value never disables the rest.
 */
export function parseSettings(given: unknown, warn: (message: string) => void): PreloadSettings {
  const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  if (given === undefined) return settings as unknown as PreloadSettings;
  if (!isObject(given)) {
    warn('the preload settings are not an object; using the defaults');
    return settings as unknown as PreloadSettings;
  }
  for (const [key, value] of Object.entries(given)) {
    const shape = (FIELDS as Record<string, Field | undefined>)[key];
    if (!shape) warn(`unknown preload setting ${key}; ignored`);
    else if (value === undefined) continue;
    else if (shape.valid(value)) settings[key] = value;
    else
      warn(
        `preload setting ${key} must be ${shape.expected}; ${key in settings ? 'using the default' : 'ignored'}`,
      );
  }
  return settings as unknown as PreloadSettings;
}
