import { createRequire, register } from 'node:module';
import path from 'node:path';
import { logLibraryInstrumentations } from './log-libraries.ts';
import type { LogSink } from './logs.ts';

/**
 * Library instrumentations (databases, caches, Koa) for the packages the app actually has, and
 * nothing else: each one costs start-up time and memory even when its package never loads. HTTP,
 * fetch, Express and Fastify need none of these; they are covered from diagnostics channels.
 */
const LIBRARIES: { module: string; instrumentation: string; className: string }[] = [
  { module: 'pg', instrumentation: '@opentelemetry/instrumentation-pg', className: 'PgInstrumentation' },
  {
    module: 'mysql2',
    instrumentation: '@opentelemetry/instrumentation-mysql2',
    className: 'MySQL2Instrumentation',
  },
  {
    module: 'redis',
    instrumentation: '@opentelemetry/instrumentation-redis',
    className: 'RedisInstrumentation',
  },
  {
    module: 'ioredis',
    instrumentation: '@opentelemetry/instrumentation-ioredis',
    className: 'IORedisInstrumentation',
  },
  {
    module: 'mongodb',
    instrumentation: '@opentelemetry/instrumentation-mongodb',
    className: 'MongoDBInstrumentation',
  },
  { module: 'koa', instrumentation: '@opentelemetry/instrumentation-koa', className: 'KoaInstrumentation' },
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

const LOG_LIBRARIES = ['pino', 'winston'];

/** Instrumentations the preload provides itself, loaded like the others only when the app has the package. */
export interface OwnInstrumentation {
  module: string;
  create(): unknown;
}

export function instrumentLibraries(
  esm: boolean,
  warn: (message: string) => void,
  sink: LogSink,
  own: OwnInstrumentation[] = [],
) {
  const appRequire = createRequire(path.join(process.cwd(), 'package.json'));
  const present = LIBRARIES.filter((library) => appHas(appRequire, library.module));
  const logLibraries = LOG_LIBRARIES.filter((name) => appHas(appRequire, name));
  const ownPresent = own.filter((library) => appHas(appRequire, library.module));
  if (present.length === 0 && logLibraries.length === 0 && ownPresent.length === 0) return [];
  const ownRequire = createRequire(import.meta.url);
  const instrumentations: unknown[] = [];
  if (logLibraries.length > 0) {
    try {
      instrumentations.push(...logLibraryInstrumentations(logLibraries, sink));
    } catch (error) {
      warn(`pino/winston output not captured: ${(error as Error).message}`);
    }
  }
  for (const library of ownPresent) {
    try {
      instrumentations.push(library.create());
    } catch (error) {
      warn(`instrumentation for ${library.module} not loaded: ${(error as Error).message}`);
    }
  }
  for (const library of present) {
    try {
      const module = ownRequire(library.instrumentation) as Record<string, new (config: object) => unknown>;
      const config = library.module === 'koa' ? { ignoreLayersType: ['middleware'] } : {};
      instrumentations.push(new module[library.className]!(config));
    } catch (error) {
      warn(`instrumentation for ${library.module} not loaded: ${(error as Error).message}`);
    }
  }
  if (esm) {
    // ESM imports are patched only through a loader hook registered before the app loads
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  }
  const { registerInstrumentations } = ownRequire('@opentelemetry/instrumentation') as {
    registerInstrumentations(options: { instrumentations: unknown[] }): void;
  };
  registerInstrumentations({ instrumentations });
  return [
    ...present.map((library) => library.module),
    ...logLibraries,
    ...ownPresent.map((library) => library.module),
  ];
}
