import { readFileSync } from 'node:fs';
import { createRequire, findPackageJSON, register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { logLibraryInstrumentations } from './log-libraries.ts';
import type { LogSink } from '../logs/sink.ts';

/**
 * Library instrumentations (databases, caches, Koa) for the packages the app actually has, and
 * nothing else: each one costs start-up time and memory even when its package never loads. HTTP,
 * fetch, Express and Fastify need none of these; they are covered from diagnostics channels.
 */
interface Library {
  module: string;
  instrumentation: string;
  className: string;
  /** Major versions the instrumentation patches: from the first, up to but not including the second. */
  majors: [number, number];
}

const LIBRARIES: Library[] = [
  {
    module: 'pg',
    instrumentation: '@opentelemetry/instrumentation-pg',
    className: 'PgInstrumentation',
    majors: [8, 9],
  },
  {
    module: 'mysql2',
    instrumentation: '@opentelemetry/instrumentation-mysql2',
    className: 'MySQL2Instrumentation',
    majors: [1, 4],
  },
  {
    // redis 4 through @redis/client 1; redis 5 ships @redis/client 5, which it does not patch
    module: 'redis',
    instrumentation: '@opentelemetry/instrumentation-redis',
    className: 'RedisInstrumentation',
    majors: [2, 5],
  },
  {
    module: 'ioredis',
    instrumentation: '@opentelemetry/instrumentation-ioredis',
    className: 'IORedisInstrumentation',
    majors: [2, 7],
  },
  {
    module: 'mongodb',
    instrumentation: '@opentelemetry/instrumentation-mongodb',
    className: 'MongoDBInstrumentation',
    majors: [3, 8],
  },
  {
    module: 'koa',
    instrumentation: '@opentelemetry/instrumentation-koa',
    className: 'KoaInstrumentation',
    majors: [2, 4],
  },
];

/**
 * The installed version of a package the app resolves. Node finds the manifest even where an
 * `exports` map hides `package.json` from require.
 */
function installedVersion(appRoot: string, module: string): string | undefined {
  try {
    const manifest = findPackageJSON(module, pathToFileURL(path.join(appRoot, 'package.json')));
    if (!manifest) return undefined;
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The app's libraries whose installed version their instrumentation does not patch, as warnings:
 * without one, such a library is silently untraced.
 */
export function uncoveredLibraries(appRoot: string, modules: readonly string[]): string[] {
  const warnings: string[] = [];
  for (const library of LIBRARIES) {
    if (!modules.includes(library.module)) continue;
    const version = installedVersion(appRoot, library.module);
    if (version === undefined) continue;
    const major = Number.parseInt(version, 10);
    const [from, to] = library.majors;
    if (Number.isInteger(major) && (major < from || major >= to)) {
      warnings.push(
        `${library.module} ${version} is not traced: ${library.instrumentation} covers ` +
          `${library.module} ${from}.x to ${to - 1}.x`,
      );
    }
  }
  return warnings;
}

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
  uncoveredLibraries(
    process.cwd(),
    present.map((library) => library.module),
  ).forEach(warn);
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
