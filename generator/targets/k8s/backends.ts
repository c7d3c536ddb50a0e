import type { Model } from '../../model/model.ts';
import { alertmanagerConfig } from '../alertmanager.ts';
import type { Artifact } from '../artifact.ts';
import { COLLECTOR_USER } from '../compose.ts';
import { grafanaTarget } from '../grafana.ts';
import { lokiConfig } from '../loki.ts';
import { tempoConfig } from '../tempo.ts';
import { port } from '../../model/topology.ts';
import {
  GRAFANA_DASHBOARD_LABEL,
  GRAFANA_DATASOURCE_LABEL,
  image,
  metadata,
  resources,
  volumeClaim,
} from './common.ts';
import { ALERTMANAGER_CONFIG_SECRET } from './monitoring.ts';

/**
 * Loki and Tempo as single-replica StatefulSets running the generated configs, which kustomize
 * turns into ConfigMaps from the files written next to them (the same objects as stacks/). Their
 * Services are named as in the compose stack, so the Collector, Tempo and Grafana configs reach
 * them unchanged.
 */

export interface Generated {
  /** kustomize configMapGenerator / secretGenerator entries, paths relative to k8s/. */
  configMaps: { name: string; files: string[]; labels?: Record<string, string> }[];
  secrets: { name: string; files: string[] }[];
  artifacts: Artifact[];
}

interface Backend {
  name: 'loki' | 'tempo';
  config: unknown;
  configFile: string;
  configDir: string;
  dataDir: string;
  ports: { name: string; port: number }[];
  ready: { path: string; port: number };
}

function backends(model: Model): Backend[] {
  return [
    {
      name: 'loki',
      config: lokiConfig(model),
      configFile: 'loki.yaml',
      configDir: '/etc/loki',
      dataDir: '/loki',
      ports: [
        { name: 'http', port: port('loki', 'http') },
        { name: 'grpc', port: port('loki', 'grpc') },
      ],
      ready: { path: '/ready', port: port('loki', 'http') },
    },
    {
      name: 'tempo',
      config: tempoConfig(model),
      configFile: 'tempo.yaml',
      configDir: '/etc/tempo',
      dataDir: '/var/tempo',
      ports: [
        { name: 'http', port: port('tempo', 'http') },
        { name: 'otlp-grpc', port: port('tempo', 'otlpGrpc') },
        { name: 'otlp-http', port: port('tempo', 'otlpHttp') },
      ],
      ready: { path: '/ready', port: port('tempo', 'http') },
    },
  ];
}

function statefulSet(model: Model, backend: Backend) {
  const podLabels = { 'app.kubernetes.io/name': backend.name, 'app.kubernetes.io/instance': 'otelkit' };
  const [user, group] = COLLECTOR_USER.split(':').map(Number);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: metadata(model, backend.name, podLabels),
    spec: {
      serviceName: backend.name,
      replicas: 1,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: {
          // the upstream images run as uid 10001 (see compose.ts)
          securityContext: { runAsUser: user, runAsGroup: group, fsGroup: group, runAsNonRoot: true },
          containers: [
            {
              name: backend.name,
              image: image(model, backend.name),
              args: [`-config.file=${backend.configDir}/${backend.configFile}`],
              ports: backend.ports.map((p) => ({ name: p.name, containerPort: p.port })),
              readinessProbe: {
                httpGet: { path: backend.ready.path, port: backend.ready.port },
                periodSeconds: 5,
              },
              resources: resources(model.kubernetes.resources[backend.name]),
              volumeMounts: [
                { name: 'config', mountPath: backend.configDir, readOnly: true },
                { name: 'data', mountPath: backend.dataDir },
              ],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: `otelkit-${backend.name}-config` } }],
        },
      },
      volumeClaimTemplates: [volumeClaim(model, 'data', model.kubernetes.storage[backend.name])],
    },
  };
}

function service(model: Model, backend: Backend) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(model, backend.name, { 'app.kubernetes.io/name': backend.name }),
    spec: {
      selector: { 'app.kubernetes.io/name': backend.name, 'app.kubernetes.io/instance': 'otelkit' },
      ports: backend.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name })),
    },
  };
}

export const GRAFANA_DATASOURCES_CONFIG_MAP = 'otelkit-grafana-datasources';

export function backendArtifacts(model: Model): Generated {
  const generated: Generated = { configMaps: [], secrets: [], artifacts: [] };
  for (const backend of backends(model)) {
    const configPath = `config/${backend.configFile}`;
    generated.artifacts.push(
      { path: `k8s/${configPath}`, format: 'yaml', content: backend.config },
      { path: `k8s/${backend.name}/statefulset.yaml`, format: 'yaml', content: statefulSet(model, backend) },
      { path: `k8s/${backend.name}/service.yaml`, format: 'yaml', content: service(model, backend) },
    );
    generated.configMaps.push({ name: `otelkit-${backend.name}-config`, files: [configPath] });
  }
  // the Alertmanager resource reads its config from this Secret's alertmanager.yaml key
  generated.artifacts.push({
    path: 'k8s/config/alertmanager.yaml',
    format: 'yaml',
    content: alertmanagerConfig(model),
  });
  generated.secrets.push({ name: ALERTMANAGER_CONFIG_SECRET, files: ['config/alertmanager.yaml'] });

  // Grafana's chart sidecar loads ConfigMaps by label: the same datasources and dashboards as grafana/
  const grafana = grafanaTarget.generate(model);
  const datasources = grafana.find((a) => a.path === 'grafana/provisioning/datasources/otelkit.yaml')!;
  generated.artifacts.push({ ...datasources, path: 'k8s/grafana/datasources/otelkit.yaml' });
  generated.configMaps.push({
    name: GRAFANA_DATASOURCES_CONFIG_MAP,
    files: ['grafana/datasources/otelkit.yaml'],
    labels: { [GRAFANA_DATASOURCE_LABEL]: '1' },
  });
  for (const dashboard of grafana.filter((a) => a.path.startsWith('grafana/dashboards/'))) {
    const name = dashboard.path.slice('grafana/dashboards/'.length);
    generated.artifacts.push({ ...dashboard, path: `k8s/grafana/dashboards/${name}` });
    generated.configMaps.push({
      name: `otelkit-dashboard-${name.replace(/\.json$/, '')}`,
      files: [`grafana/dashboards/${name}`],
      labels: { [GRAFANA_DASHBOARD_LABEL]: '1' },
    });
  }
  return generated;
}
