import type { Model } from '../../model/model.ts';
import { UPSTREAM_IMAGES, upstreamTag, type Component } from '../../model/versions.ts';

/**
 * Shared pieces of the Kubernetes output. Every object names its namespace and carries the
 * project label, so the base applies the same with or without kustomize's namespace transformer.
 */

export const PROJECT_LABEL = 'otelkit.io/project';
/** Pod label the instrument components add, so a PodMonitor finds a service's pods by name. */
export const SERVICE_LABEL = 'otelkit.io/service';
/** Labels the Grafana chart's sidecar watches for. */
export const GRAFANA_DASHBOARD_LABEL = 'grafana_dashboard';
export const GRAFANA_DATASOURCE_LABEL = 'grafana_datasource';

/** Name of the Prometheus and Alertmanager resources, and the prefix of cluster-scoped names. */
export const STACK_NAME = 'otelkit';

export function labels(model: Model, extra: Record<string, string> = {}): Record<string, string> {
  return { 'app.kubernetes.io/part-of': 'otelkit', [PROJECT_LABEL]: model.project, ...extra };
}

export function metadata(model: Model, name: string, extra: Record<string, string> = {}) {
  return { name, namespace: model.kubernetes.namespace, labels: labels(model, extra) };
}

/** Cluster-scoped objects are shared by every namespace, so their names carry the namespace. */
export function clusterName(model: Model, what: string): string {
  return `${STACK_NAME}-${model.kubernetes.namespace}-${what}`;
}

/** Upstream image at the pinned version. */
export function upstreamImage(model: Model, component: Component): string {
  return `${UPSTREAM_IMAGES[component]}:${upstreamTag(component, model.versions[component])}`;
}

type ImageComponent = keyof Model['kubernetes']['images'];

export function image(model: Model, component: Exclude<ImageComponent, 'collector'>): string {
  return model.kubernetes.images[component] ?? upstreamImage(model, component);
}

export function volumeClaim(model: Model, name: string, size: string) {
  return {
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(model.kubernetes.storage_class ? { storageClassName: model.kubernetes.storage_class } : {}),
      resources: { requests: { storage: size } },
    },
  };
}

export function resources(requests: { cpu: string; memory: string }) {
  return { requests: { cpu: requests.cpu, memory: requests.memory }, limits: { memory: requests.memory } };
}

/** In-cluster DNS name of a Service of the stack, for clients in other namespaces. */
export function serviceHost(model: Model, service: string): string {
  return `${service}.${model.kubernetes.namespace}.svc`;
}
