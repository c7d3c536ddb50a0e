import { readFileSync } from 'node:fs';
import { createRequire, findPackageJSON } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Instrumentation } from './registry.ts';

/**
 * The OpenTelemetry instrumentations of databases, caches and Koa, one registry entry each. HTTP,
 * fetch, Express and Fastify need none of these; they are covered from diagnostics channels.
 */
interface Library {
  module: string;
  instrumentation: string;
  className: string;
  /** Major versions the instrumentation patches: from the first, up to but not including the second. */
  majors: [number, number];
  config?: object;
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
    config: { ignoreLayersType: ['middleware'] },
  },
];

export const LIBRARY_INSTRUMENTATIONS: readonly Instrumentation[] = LIBRARIES.map((library) => ({
  name: library.instrumentation,
  kind: 'library',
  modules: [library.module],
  majors: library.majors,
  enable: () => {
    // resolved from otelkit's dependencies, outside the bundle
    const module = createRequire(import.meta.url)(library.instrumentation) as Record<
      string,
      new (config: object) => unknown
    >;
    return [new module[library.className]!(library.config ?? {})];
  },
}));

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
export function uncoveredLibraries(
  appRoot: string,
  modules: readonly string[],
  instrumentations: readonly Instrumentation[] = LIBRARY_INSTRUMENTATIONS,
): string[] {
  const warnings: string[] = [];
  for (const instrumentation of instrumentations) {
    if (!instrumentation.majors) continue;
    for (const module of instrumentation.modules) {
      if (!modules.includes(module)) continue;
      const version = installedVersion(appRoot, module);
      if (version === undefined) continue;
      const major = Number.parseInt(version, 10);
      const [from, to] = instrumentation.majors;
      if (Number.isInteger(major) && (major < from || major >= to)) {
        warnings.push(
          `${module} ${version} is not traced: ${instrumentation.name} covers ${module} ${from}.x to ${to - 1}.x`,
        );
      }
    }
  }
  return warnings;
}
