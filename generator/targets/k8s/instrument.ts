import type { Model, ServiceModel } from '../../model/model.ts';
import type { Artifact } from '../artifact.ts';
import { preloadTarget } from '../preload.ts';
import { serviceEnv } from '../service-env.ts';
import { appCollectorEndpoint } from './collector.ts';
import { SERVICE_LABEL } from './common.ts';

/**
 * One kustomize Component per service, for the user's own kustomization of their app: it patches
 * the Deployment named like the service (its container of the same name) with the service's OTEL_*
 * environment, pointing at the node's agent (gateway mode) or the Collector's Service, and labels
 * its pods for the PodMonitor. Node services also get their generated preload, from a ConfigMap
 * the component generates, mounted into the app's directory so that `otelkit/preload` resolves from
 * the app's node_modules.
 */

const PRELOAD_VOLUME = 'otelkit-preload';

/** Every Node service's preload file, by path: generated once, not once per service. */
function preloadFiles(model: Model): Map<string, Artifact> {
  return new Map(preloadTarget.generate(model).map((artifact) => [artifact.path, artifact]));
}

function preloadFile(preloads: Map<string, Artifact>, service: ServiceModel): Artifact & { format: 'text' } {
  const extension = service.module === 'commonjs' ? 'cjs' : 'mjs';
  const artifact = preloads.get(`preload/${service.name}.${extension}`);
  if (!artifact || artifact.format !== 'text') throw new Error(`internal: no preload for ${service.name}`);
  return artifact;
}

export function instrumentArtifacts(model: Model): Artifact[] {
  const preloads = preloadFiles(model);
  return model.services.flatMap((service): Artifact[] => {
    const dir = `k8s/instrument/${service.name}`;
    const env: Record<string, string> = {
      ...serviceEnv(model, service),
      OTEL_EXPORTER_OTLP_ENDPOINT: appCollectorEndpoint(model),
    };
    const node = service.runtime === 'node' ? preloadFile(preloads, service) : undefined;
    const preloadName = node ? node.path.slice('preload/'.length) : undefined;
    const mountPath = preloadName
      ? `${model.kubernetes.app_dir.replace(/\/+$/, '')}/preload/${preloadName}`
      : '';
    if (node) {
      const flag = service.module === 'commonjs' ? '--require' : '--import';
      env.NODE_OPTIONS = `${flag} ${mountPath}`;
    }
    const patch = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: service.name },
      spec: {
        template: {
          metadata: { labels: { [SERVICE_LABEL]: service.name } },
          spec: {
            containers: [
              {
                name: service.name,
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
                ...(node
                  ? {
                      volumeMounts: [
                        { name: PRELOAD_VOLUME, mountPath, subPath: preloadName, readOnly: true },
                      ],
                    }
                  : {}),
              },
            ],
            ...(node
              ? {
                  volumes: [{ name: PRELOAD_VOLUME, configMap: { name: `otelkit-preload-${service.name}` } }],
                }
              : {}),
          },
        },
      },
    };
    const component = {
      apiVersion: 'kustomize.config.k8s.io/v1alpha1',
      kind: 'Component',
      patches: [{ path: 'deployment-patch.yaml', target: { kind: 'Deployment', name: service.name } }],
      // the ConfigMap's name gets a content hash, so a new preload rolls the Deployment
      ...(node
        ? { configMapGenerator: [{ name: `otelkit-preload-${service.name}`, files: [preloadName] }] }
        : {}),
    };
    return [
      { path: `${dir}/kustomization.yaml`, format: 'yaml', content: component },
      { path: `${dir}/deployment-patch.yaml`, format: 'yaml', content: patch },
      ...(node ? [{ ...node, path: `${dir}/${preloadName}` }] : []),
    ];
  });
}
