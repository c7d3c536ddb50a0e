import type { PreloadSettings } from '../../runtime/contract.ts';
import type { Model, ServiceModel } from '../model/model.ts';
import type { Artifact, Target } from './artifact.ts';
import { LOOPBACK, httpUrl } from '../model/topology.ts';

/**
 * One preload file per Node service: it starts the otelkit runtime with that service's settings,
 * built against the runtime's contract (runtime/contract.ts) and written as a JSON literal so the
 * file stays readable, diffable and free of generator code; OTEL_* variables still override them
 * at run time, inside the runtime.
 */

/** The Collector tail-samples, so the SDK exports everything and lets it decide. */
const SAMPLER = { type: 'parentbased_always_on' } as const;
const DEFAULT_ENDPOINT = httpUrl('collector', { port: 'otlpHttp', host: LOOPBACK });

export function preloadSettings(model: Model, service: ServiceModel): PreloadSettings {
  return {
    service: service.name,
    environment: model.environment,
    project: model.project,
    module: service.module,
    frontends: service.frontends,
    routes: service.routes,
    redaction: { blockedKeys: model.redaction.blockedKeys, valuePatterns: model.redaction.valuePatterns },
    sampler: SAMPLER,
    endpoint: DEFAULT_ENDPOINT,
    protocol: 'http/protobuf',
    logLevel: model.signals.logs.level,
    histogramBucketsMs: model.signals.metrics.histogramBucketsMs,
    maxRoutes: model.signals.metrics.maxRoutesPerService,
    dependencies: service.dependencies.map((dependency) => ({
      name: dependency.name,
      critical: dependency.critical,
    })),
    ...(service.admin
      ? { admin: { ...service.admin, readyWhen: service.kind === 'http' ? 'listening' : 'started' } }
      : {}),
  };
}

const literal = (value: PreloadSettings) => JSON.stringify(value, null, 2);

export const preloadTarget: Target = {
  name: 'preload',
  description: 'Node.js preload per service (NODE_OPTIONS="--import ./preload/<service>.mjs")',
  generate: (model: Model): Artifact[] =>
    model.services
      .filter((service) => service.runtime === 'node')
      .flatMap((service): Artifact[] => {
        const settings = literal(preloadSettings(model, service));
        const esm: Artifact = {
          path: `preload/${service.name}.mjs`,
          format: 'text',
          comment: 'slash',
          content: `// NODE_OPTIONS="--import ./preload/${service.name}.mjs" node app.js\nimport { start } from 'otelkit/preload';\n\nstart(${settings});\n`,
        };
        if (service.module !== 'commonjs') return [esm];
        // require() of the ES module runtime is synchronous on Node >= 22.12, so --require finishes
        // instrumenting before the app's first require, as a CommonJS preload must.
        const cjs: Artifact = {
          path: `preload/${service.name}.cjs`,
          format: 'text',
          comment: 'slash',
          content: `// NODE_OPTIONS="--require ./preload/${service.name}.cjs" node app.js\n'use strict';\nrequire('otelkit/preload').start(${settings});\n`,
        };
        return [esm, cjs];
      }),
};
