import { ENDPOINTS, collectorGoMemLimit } from '../../model/conventions.ts';
import type { Model } from '../../model/model.ts';
import type { Artifact } from '../artifact.ts';
import {
  COLLECTOR_CONFIG_PATH,
  COLLECTOR_GATEWAY_CONFIG_PATH,
  COMPONENT,
  collectorTarget,
} from '../collector.ts';
import { builderManifest } from '../collector-build.ts';
import { COLLECTOR_USER } from '../compose.ts';
import { metadata, serviceHost, volumeClaim } from './common.ts';

/**
 * OpenTelemetry Operator resources (opentelemetry.io/v1beta1). The configs are the collector
 * target's own objects ($ already escaped); only the agent's gateway resolver changes, from DNS to
 * the Kubernetes API, which sees a replica leave at once instead of at the next DNS poll.
 */

export const COLLECTOR_API_VERSION = 'opentelemetry.io/v1beta1';
/** OpenTelemetryCollector names; the operator names its Services `<name>-collector`. */
export const COLLECTOR_NAMES = {
  single: 'otelkit',
  agent: 'otelkit-agent',
  gateway: 'otelkit-gateway',
} as const;
/** The OpenTelemetryCollector resources of the spec's collector mode. */
export function collectorNames(model: Model): string[] {
  return model.collector.mode === 'gateway'
    ? [COLLECTOR_NAMES.agent, COLLECTOR_NAMES.gateway]
    : [COLLECTOR_NAMES.single];
}

/** Service the apps send to in gateway mode: traffic stays on the node (internalTrafficPolicy Local). */
export const AGENT_LOCAL_SERVICE = 'otelkit-agent-local';
const RESOLVER_ACCOUNT = 'otelkit-agent';
const QUEUE_VOLUME = 'queue';

/** Pod labels the OpenTelemetry Operator sets on a collector's pods. */
export function collectorPodSelector(name: string): Record<string, string> {
  return {
    'app.kubernetes.io/component': 'opentelemetry-collector',
    'app.kubernetes.io/name': `${name}-collector`,
  };
}

/** Where instrumented apps send OTLP/HTTP: the node's agent, or the single Collector's Service. */
export function appCollectorEndpoint(model: Model): string {
  const service =
    model.collector.mode === 'gateway' ? AGENT_LOCAL_SERVICE : `${COLLECTOR_NAMES.single}-collector`;
  return `http://${serviceHost(model, service)}:${ENDPOINTS.collectorOtlpHttp}`;
}

function generatedConfigs(model: Model) {
  const byPath = new Map(collectorTarget.generate(model).map((a) => [a.path, a]));
  const content = (path: string) => {
    const artifact = byPath.get(path);
    return artifact && artifact.format === 'yaml' ? (artifact.content as Record<string, unknown>) : undefined;
  };
  return { main: content(COLLECTOR_CONFIG_PATH)!, gateway: content(COLLECTOR_GATEWAY_CONFIG_PATH) };
}

/** The agent's config with the load-balancing exporter resolving gateways through the API server. */
function agentConfig(model: Model, config: Record<string, unknown>) {
  const exporters = config.exporters as Record<string, Record<string, unknown>>;
  const balancer = exporters[COMPONENT.loadBalancingExporter]!;
  return {
    ...config,
    exporters: {
      ...exporters,
      [COMPONENT.loadBalancingExporter]: {
        ...balancer,
        resolver: {
          k8s: {
            service: `${ENDPOINTS.gatewayHost}.${model.kubernetes.namespace}`,
            ports: [ENDPOINTS.collectorOtlpGrpc],
          },
        },
      },
    },
  };
}

export function collectorImage(model: Model): string {
  return (
    model.kubernetes.images.collector ?? `${builderManifest(model).dist.name}:${model.versions.collector}`
  );
}

function collectorResource(
  model: Model,
  name: string,
  mode: 'daemonset' | 'statefulset' | 'deployment',
  config: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  const memory = model.collector.memoryLimitMib;
  const queue = model.collector.persistentQueue;
  const [user, group] = COLLECTOR_USER.split(':').map(Number);
  // the daemonset's queue survives container restarts on its node; replicas that can move keep it
  // on a claim of their own
  const queueStorage = !queue.enabled
    ? {}
    : mode === 'statefulset'
      ? { volumeClaimTemplates: [volumeClaim(model, QUEUE_VOLUME, model.kubernetes.storage.collector_queue)] }
      : { volumes: [{ name: QUEUE_VOLUME, emptyDir: {} }] };
  return {
    apiVersion: COLLECTOR_API_VERSION,
    kind: 'OpenTelemetryCollector',
    metadata: metadata(model, name),
    spec: {
      mode,
      // without the operator's webhook nothing defaults it, and an upgrade must not rewrite the config
      upgradeStrategy: 'none',
      managementState: 'managed',
      image: collectorImage(model),
      ...extra,
      env: [{ name: 'GOMEMLIMIT', value: collectorGoMemLimit(memory) }],
      resources: { requests: { memory: `${memory}Mi` }, limits: { memory: `${memory}Mi` } },
      podSecurityContext: { runAsUser: user, runAsGroup: group, fsGroup: group, runAsNonRoot: true },
      ...queueStorage,
      ...(queue.enabled ? { volumeMounts: [{ name: QUEUE_VOLUME, mountPath: queue.directory }] } : {}),
      config,
    },
  };
}

export function collectorArtifacts(model: Model): Artifact[] {
  const configs = generatedConfigs(model);
  const mode = model.collector.persistentQueue.enabled ? 'statefulset' : 'deployment';
  const file = (name: string, content: unknown): Artifact => ({
    path: `k8s/collector/${name}.yaml`,
    format: 'yaml',
    content,
  });
  if (model.collector.mode !== 'gateway' || !configs.gateway) {
    return [
      file(
        COLLECTOR_NAMES.single,
        collectorResource(model, COLLECTOR_NAMES.single, mode, configs.main, { replicas: 1 }),
      ),
    ];
  }
  const namespace = model.kubernetes.namespace;
  const ports = [
    { name: 'otlp-grpc', port: ENDPOINTS.collectorOtlpGrpc, targetPort: ENDPOINTS.collectorOtlpGrpc },
    { name: 'otlp-http', port: ENDPOINTS.collectorOtlpHttp, targetPort: ENDPOINTS.collectorOtlpHttp },
  ];
  return [
    file(
      COLLECTOR_NAMES.agent,
      collectorResource(model, COLLECTOR_NAMES.agent, 'daemonset', agentConfig(model, configs.main), {
        serviceAccount: RESOLVER_ACCOUNT,
      }),
    ),
    file(
      COLLECTOR_NAMES.gateway,
      collectorResource(model, COLLECTOR_NAMES.gateway, mode, configs.gateway, {
        replicas: model.collector.gatewayReplicas,
      }),
    ),
    // every gateway pod's own address, for the resolver (and the agents' metrics and logs exporter)
    file(ENDPOINTS.gatewayHost, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(model, ENDPOINTS.gatewayHost),
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: false,
        selector: collectorPodSelector(COLLECTOR_NAMES.gateway),
        ports: [ports[0]],
      },
    }),
    file(AGENT_LOCAL_SERVICE, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(model, AGENT_LOCAL_SERVICE),
      spec: { internalTrafficPolicy: 'Local', selector: collectorPodSelector(COLLECTOR_NAMES.agent), ports },
    }),
    file(`${RESOLVER_ACCOUNT}-serviceaccount`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: metadata(model, RESOLVER_ACCOUNT),
    }),
    // the load-balancing exporter's k8s resolver watches the gateway Service's EndpointSlices (only)
    file(`${RESOLVER_ACCOUNT}-role`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: metadata(model, `${RESOLVER_ACCOUNT}-resolver`),
      rules: [
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      ],
    }),
    file(`${RESOLVER_ACCOUNT}-rolebinding`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: metadata(model, `${RESOLVER_ACCOUNT}-resolver`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${RESOLVER_ACCOUNT}-resolver` },
      subjects: [{ kind: 'ServiceAccount', name: RESOLVER_ACCOUNT, namespace }],
    }),
  ];
}
