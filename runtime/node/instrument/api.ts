import { createRequire } from 'node:module';

/**
 * @opentelemetry/instrumentation, loaded with require only when an instrumentation of the preload's
 * own is needed (it stays outside the bundle, resolved from otelkit's dependencies).
 */
export interface InstrumentationApi {
  InstrumentationBase: new (name: string, version: string, config: object) => object;
  InstrumentationNodeModuleDefinition: new (
    name: string,
    versions: string[],
    patch: (exports: unknown) => unknown,
  ) => unknown;
}

export function loadInstrumentationApi(): InstrumentationApi {
  return createRequire(import.meta.url)('@opentelemetry/instrumentation') as InstrumentationApi;
}

/** Whether an instrumentation's patch received an ES module namespace rather than CommonJS exports. */
export const isEsmNamespace = (module: unknown) =>
  (module as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Module';
