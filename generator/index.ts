import type { SpecInput } from './spec/schema.ts';

export type { SpecInput } from './spec/schema.ts';
export type { Model } from './model/model.ts';

/** Typed identity for `otelkit.config.ts`, so editors check and complete the spec. */
export function defineSpec(spec: SpecInput): SpecInput {
  return spec;
}
