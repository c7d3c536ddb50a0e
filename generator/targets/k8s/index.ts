import type { Model } from '../../model/model.ts';
import type { Artifact, Target } from '../artifact.ts';
import { backendArtifacts } from './backends.ts';
import { collectorArtifacts } from './collector.ts';
import { labels } from './common.ts';
import { instrumentArtifacts } from './instrument.ts';
import { monitoringArtifacts } from './monitoring.ts';
import { scaleArtifacts } from './scale.ts';

/**
 * k8s/: a kustomize base of the whole stack for the OpenTelemetry Operator and the Prometheus
 * Operator, from the same objects as stacks/, alerts/ and grafana/, plus one Component per service
 * under k8s/instrument/ for the apps' own kustomizations (not part of the base).
 */

export function kubernetesArtifacts(model: Model): Artifact[] {
  const namespace = model.kubernetes.namespace;
  const generated = backendArtifacts(model);
  const resources: Artifact[] = [
    {
      path: 'k8s/namespace.yaml',
      format: 'yaml',
      content: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: labels(model) } },
    },
    ...collectorArtifacts(model),
    ...monitoringArtifacts(model),
    ...generated.artifacts.filter(
      (a) => !a.path.startsWith('k8s/config/') && !a.path.startsWith('k8s/grafana/'),
    ),
  ];
  const files = generated.artifacts.filter(
    (a) => a.path.startsWith('k8s/config/') || a.path.startsWith('k8s/grafana/'),
  );
  const relative = (artifact: Artifact) => artifact.path.slice('k8s/'.length);
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    namespace,
    resources: resources.map(relative).sort(),
    // fixed names: the Alertmanager resource and the StatefulSets refer to them by name
    generatorOptions: { disableNameSuffixHash: true, labels: labels(model) },
    configMapGenerator: generated.configMaps.map((c) => ({
      name: c.name,
      files: c.files,
      ...(c.labels ? { options: { labels: c.labels } } : {}),
    })),
    secretGenerator: generated.secrets.map((s) => ({ name: s.name, files: s.files })),
  };
  return [
    { path: 'k8s/kustomization.yaml', format: 'yaml', content: kustomization },
    ...resources,
    ...files,
    ...instrumentArtifacts(model),
    // Helm values for more than one node, next to the base rather than in it
    ...scaleArtifacts(model),
  ];
}

export const kubernetesTarget: Target = {
  name: 'k8s',
  description:
    'Kubernetes: kustomize base for the OpenTelemetry and Prometheus Operators, instrument components',
  generate: kubernetesArtifacts,
};
