import { HEALTH_ROUTES } from '../model/conventions.ts';
import type { Model, ServiceModel } from '../model/model.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * The Python bootstrap: the runtime's sources (real .py files in runtime/python, linted and
 * tested as Python) copied to preload/python/, plus one settings file per Python service. The env file
 * of each Python service (service-env.ts) puts preload/python on PYTHONPATH and names the service, so
 * `opentelemetry-instrument` finds the bootstrap's entry points and the bootstrap its settings.
 */

/** The health routes the bootstrap leaves untraced: the one list, shared with the Node preload. */
export { HEALTH_ROUTES };

/** Where the bootstrap lands in the output; the env file's PYTHONPATH names it. */
export const PYTHON_DIR = 'preload/python';

/** Longer X-Request-ID values are replaced by a generated one, as in the Node preload. */
export const REQUEST_ID_MAX_LENGTH = 128;

/** Bumped with settings.py's SCHEMA whenever the shape below changes. */
export const PYTHON_SETTINGS_SCHEMA = 2;

export interface PythonSettings {
  schema: number;
  service: string;
  environment: string;
  project: string;
  frontends: string[];
  redaction: { blockedKeys: string[]; valuePatterns: { name: string; regex: string }[] };
  logLevel: 'debug' | 'info' | 'warning' | 'error' | 'critical';
  requestIdMaxLength: number;
  /** bulkhead: the spec's limit, which the bootstrap's `bulkhead(name)` takes when the app gives none. */
  dependencies: { name: string; critical: boolean; bulkhead?: { maxConcurrent: number } }[];
}

const LOG_LEVELS: Record<string, PythonSettings['logLevel']> = { warn: 'warning' };

export function pythonSettings(model: Model, service: ServiceModel): PythonSettings {
  const level = model.signals.logs.level as string;
  return {
    schema: PYTHON_SETTINGS_SCHEMA,
    service: service.name,
    environment: model.environment,
    project: model.project,
    frontends: service.frontends,
    redaction: { blockedKeys: model.redaction.blockedKeys, valuePatterns: model.redaction.valuePatterns },
    logLevel: LOG_LEVELS[level] ?? (level as PythonSettings['logLevel']),
    requestIdMaxLength: REQUEST_ID_MAX_LENGTH,
    dependencies: service.dependencies.map((dependency) => ({
      name: dependency.name,
      critical: dependency.critical,
      ...(dependency.bulkhead && { bulkhead: { maxConcurrent: dependency.bulkhead.maxConcurrent } }),
    })),
  };
}

/**
 * OTEL_PYTHON_EXCLUDED_URLS: regexes searched in the request URL (Flask's includes the query). Two per
 * route: the path alone, or followed by a query; so /orders/health and /healthzone are still traced.
 * Written with no character a POSIX shell treats specially in an assignment (no quotes, parentheses
 * or backslashes), since the env file is sourced by `set -a; . preload/<service>.env` as well as read by
 * compose's env_file.
 */
export function excludedUrls(routes: readonly string[] = HEALTH_ROUTES): string {
  return routes.flatMap((route) => [`^[a-z]+://[^/]+${route}/?$`, `^[a-z]+://[^/]+${route}/?[?]`]).join(',');
}

/** Where the bootstrap's sources are in the package. */
export const PYTHON_RUNTIME_DIR = 'runtime/python';

/**
 * The bootstrap's files, copied into every output with Python services (a unit test holds this
 * list to the directory's content).
 */
export const PYTHON_BOOTSTRAP_FILES = [
  'otelkit_bootstrap-0.1.0.dist-info/METADATA',
  'otelkit_bootstrap-0.1.0.dist-info/entry_points.txt',
  'otelkit_bootstrap/__init__.py',
  'otelkit_bootstrap/concurrency.py',
  'otelkit_bootstrap/context.py',
  'otelkit_bootstrap/export.py',
  'otelkit_bootstrap/http.py',
  'otelkit_bootstrap/imports.py',
  'otelkit_bootstrap/logs.py',
  'otelkit_bootstrap/redact.py',
  'otelkit_bootstrap/resilience.py',
  'otelkit_bootstrap/settings.py',
  'sitecustomize.py',
] as const;

export const pythonTarget: Target = {
  name: 'python',
  description:
    'Python bootstrap for opentelemetry-instrument (preload/python, on PYTHONPATH via the env file)',
  generate: (model: Model): Artifact[] => {
    const services = model.services.filter((service) => service.runtime === 'python');
    if (services.length === 0) return [];
    return [
      ...PYTHON_BOOTSTRAP_FILES.map((relative): Artifact => ({
        path: `${PYTHON_DIR}/${relative}`,
        format: 'copy',
        source: `${PYTHON_RUNTIME_DIR}/${relative}`,
        comment: 'hash',
      })),
      ...services.map((service): Artifact => ({
        path: `${PYTHON_DIR}/otelkit_bootstrap/services/${service.name}.json`,
        format: 'json',
        content: pythonSettings(model, service),
      })),
    ];
  },
};
