import type { Model } from '../model/model.ts';
import type { Artifact, Target } from './artifact.ts';
import { collectorTarget } from './collector.ts';
import { collectorBuildTarget } from './collector-build.ts';
import { prometheusTarget } from './prometheus.ts';
import { alertRulesTarget } from './alert-rules.ts';
import { alertTestsTarget } from './alert-tests.ts';
import { alertmanagerTarget } from './alertmanager.ts';
import { runbooksTarget } from './runbooks.ts';
import { grafanaTarget } from './grafana.ts';
import { lokiTarget } from './loki.ts';
import { tempoTarget } from './tempo.ts';
import { composeTarget } from './compose.ts';
import { preloadTarget } from './preload.ts';
import { serviceEnvTarget } from './service-env.ts';
import { pythonTarget } from './python.ts';
import { kubernetesTarget } from './k8s/index.ts';

/** Every output target, in one place: a new output is one module and one line here. */
export const TARGETS: readonly Target[] = [
  collectorTarget,
  collectorBuildTarget,
  prometheusTarget,
  alertRulesTarget,
  alertTestsTarget,
  alertmanagerTarget,
  runbooksTarget,
  grafanaTarget,
  lokiTarget,
  tempoTarget,
  composeTarget,
  preloadTarget,
  serviceEnvTarget,
  pythonTarget,
  kubernetesTarget,
];

export function generateArtifacts(model: Model, targets: readonly Target[] = TARGETS): Artifact[] {
  return targets.flatMap((target) => target.generate(model));
}
