import type { Model } from '../model.ts';
import type { Artifact, Target } from './artifact.ts';
import { collectorTarget } from './collector.ts';
import { collectorBuildTarget } from './collector-build.ts';

/** Every output target, in one place: a new output is one module and one line here. */
export const TARGETS: readonly Target[] = [collectorTarget, collectorBuildTarget];

export function generateArtifacts(model: Model, targets: readonly Target[] = TARGETS): Artifact[] {
  return targets.flatMap((target) => target.generate(model));
}
