import { buildCatalogue } from '../../alerting/catalogue.ts';
import { BACKEND_JOBS } from '../../alerting/scrape-jobs.ts';
import { ENDPOINTS } from '../../model/conventions.ts';
import type { Model } from '../../model/model.ts';
import { formatDuration } from '../../model/duration.ts';
import { upstreamTag } from '../../model/versions.ts';
import { port } from '../../model/topology.ts';
import { ruleFileContent } from '../alert-rules.ts';
import type { Artifact } from '../artifact.ts';
import { prometheusConfig } from '../prometheus.ts';
import { collectorNames } from './collector.ts';
import {
  PROJECT_LABEL,
  SERVICE_LABEL,
  STACK_NAME,
  clusterName,
  image,
  labels,
  metadata,
  resources,
  volumeClaim,
} from './common.ts';

/**
 * Prometheus Operator resources (monitoring.coreos.com/v1). Prometheus gets the settings of the
 * generated prometheus.yml (OTLP, exemplars, out-of-order window, intervals, external labels); the
 * rules are the alert-rules target's groups, one PrometheusRule per rule file; scrape jobs keep
 * their job names, which the alerts select on.
 */

const API_VERSION = 'monitoring.coreos.com/v1';
/** Services named as in the compose stack, so the generated configs reach them unchanged. */
export const PROMETHEUS_SERVICE = 'prometheus';
export const ALERTMANAGER_SERVICE = 'alertmanager';
export const ALERTMANAGER_CONFIG_SECRET = 'otelkit-alertmanager-config';
/** Created by the user: one key per receiver secret file under /etc/alertmanager/secrets. */
export const ALERTMANAGER_RECEIVER_SECRET = 'otelkit-alertmanager-receivers';
const PROMETHEUS_ACCOUNT = 'otelkit-prometheus';

const file = (name: string, content: unknown): Artifact => ({
  path: `k8s/monitoring/${name}.yaml`,
  format: 'yaml',
  content,
});

const selector = (model: Model) => ({ matchLabels: { [PROJECT_LABEL]: model.project } });
const setJob = (job: string) => [{ action: 'replace', targetLabel: 'job', replacement: job }];

function prometheus(model: Model) {
  const config = prometheusConfig(model);
  const k8s = model.kubernetes;
  return {
    apiVersion: API_VERSION,
    kind: 'Prometheus',
    metadata: metadata(model, STACK_NAME),
    spec: {
      version: upstreamTag('prometheus', model.versions.prometheus),
      image: image(model, 'prometheus'),
      replicas: 1,
      serviceAccountName: PROMETHEUS_ACCOUNT,
      retention: formatDuration(model.signals.metrics.retentionMs),
      scrapeInterval: config.global.scrape_interval,
      evaluationInterval: config.global.evaluation_interval,
      externalLabels: config.global.external_labels,
      enableOTLPReceiver: true,
      enableRemoteWriteReceiver: true,
      enableFeatures: ['exemplar-storage'],
      exemplars: { maxSize: config.storage.exemplars.max_exemplars },
      tsdb: { outOfOrderTimeWindow: config.storage.tsdb.out_of_order_time_window },
      otlp: {
        promoteResourceAttributes: config.otlp.promote_resource_attributes,
        translationStrategy: config.otlp.translation_strategy,
        keepIdentifyingResourceAttributes: config.otlp.keep_identifying_resource_attributes,
      },
      ruleSelector: selector(model),
      serviceMonitorSelector: selector(model),
      podMonitorSelector: selector(model),
      // app PodMonitors select pods in the apps' namespaces
      podMonitorNamespaceSelector: {},
      alerting: {
        alertmanagers: [{ namespace: k8s.namespace, name: ALERTMANAGER_SERVICE, port: 'http' }],
      },
      resources: resources(k8s.resources.prometheus),
      securityContext: { runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, runAsNonRoot: true },
      storage: { volumeClaimTemplate: volumeClaim(model, 'data', k8s.storage.prometheus) },
    },
  };
}

function alertmanager(model: Model) {
  const k8s = model.kubernetes;
  return {
    apiVersion: API_VERSION,
    kind: 'Alertmanager',
    metadata: metadata(model, STACK_NAME),
    spec: {
      version: upstreamTag('alertmanager', model.versions.alertmanager),
      image: image(model, 'alertmanager'),
      replicas: 1,
      configSecret: ALERTMANAGER_CONFIG_SECRET,
      // receiver credentials are files the config names under /etc/alertmanager/secrets: a Secret the
      // user creates, never values in this tree
      volumes: [
        { name: 'receiver-secrets', secret: { secretName: ALERTMANAGER_RECEIVER_SECRET, optional: true } },
      ],
      volumeMounts: [{ name: 'receiver-secrets', mountPath: '/etc/alertmanager/secrets', readOnly: true }],
      resources: resources(k8s.resources.alertmanager),
      securityContext: { runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, runAsNonRoot: true },
      storage: { volumeClaimTemplate: volumeClaim(model, 'data', k8s.storage.alertmanager) },
    },
  };
}

function service(model: Model, name: string, selectorLabels: Record<string, string>, port: number) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(model, name, { 'app.kubernetes.io/name': name }),
    spec: { selector: selectorLabels, ports: [{ name: 'http', port, targetPort: 'web' }] },
  };
}

function prometheusRbac(model: Model): Artifact[] {
  const role = clusterName(model, 'prometheus');
  return [
    file(`${PROMETHEUS_ACCOUNT}-serviceaccount`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: metadata(model, PROMETHEUS_ACCOUNT),
    }),
    file(`${PROMETHEUS_ACCOUNT}-clusterrole`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: role, labels: labels(model) },
      rules: [
        { apiGroups: [''], resources: ['pods', 'services', 'endpoints'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
      ],
    }),
    file(`${PROMETHEUS_ACCOUNT}-clusterrolebinding`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: role, labels: labels(model) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: PROMETHEUS_ACCOUNT, namespace: model.kubernetes.namespace }],
    }),
  ];
}

/** The stack's own scrape jobs, by the job names the target and pipeline alerts select. */
function stackMonitors(model: Model): Artifact[] {
  return BACKEND_JOBS.map((backend) => {
    if (backend.job === 'otel-collector') {
      // every Collector (agents and gateways) is one job, as in the compose stack
      return file(`${backend.job}-podmonitor`, {
        apiVersion: API_VERSION,
        kind: 'PodMonitor',
        metadata: metadata(model, backend.job),
        spec: {
          selector: {
            matchLabels: { 'app.kubernetes.io/component': 'opentelemetry-collector' },
            matchExpressions: [
              {
                key: 'app.kubernetes.io/name',
                operator: 'In',
                values: collectorNames(model).map((name) => `${name}-collector`),
              },
            ],
          },
          podMetricsEndpoints: [{ portNumber: ENDPOINTS.collectorMetrics, relabelings: setJob(backend.job) }],
        },
      });
    }
    return file(`${backend.job}-servicemonitor`, {
      apiVersion: API_VERSION,
      kind: 'ServiceMonitor',
      metadata: metadata(model, backend.job),
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': backend.job } },
        endpoints: [{ port: 'http', relabelings: setJob(backend.job) }],
      },
    });
  });
}

/** Apps with a metrics_endpoint, found by the pod label their instrument component adds. */
function appMonitors(model: Model): Artifact[] {
  return model.services
    .filter((s) => s.metricsEndpoint)
    .map((s) =>
      file(`apps/${s.name}-podmonitor`, {
        apiVersion: API_VERSION,
        kind: 'PodMonitor',
        metadata: metadata(model, `app-${s.name}`),
        spec: {
          namespaceSelector: { any: true },
          selector: { matchLabels: { [SERVICE_LABEL]: s.name } },
          podMetricsEndpoints: [
            {
              portNumber: s.metricsEndpoint!.port,
              path: s.metricsEndpoint!.path,
              relabelings: [
                ...setJob(s.name),
                { action: 'replace', targetLabel: 'service_name', replacement: s.name },
                { action: 'replace', targetLabel: 'team', replacement: s.team },
              ],
            },
          ],
        },
      }),
    );
}

function rules(model: Model): Artifact[] {
  return buildCatalogue(model).files.map((ruleFile) =>
    file(`rules/${ruleFile.file}`, {
      apiVersion: API_VERSION,
      kind: 'PrometheusRule',
      metadata: metadata(model, ruleFile.file),
      spec: ruleFileContent(ruleFile),
    }),
  );
}

export function monitoringArtifacts(model: Model): Artifact[] {
  const prometheusPods = { 'app.kubernetes.io/name': 'prometheus', prometheus: STACK_NAME };
  const alertmanagerPods = { 'app.kubernetes.io/name': 'alertmanager', alertmanager: STACK_NAME };
  return [
    file('prometheus', prometheus(model)),
    file(
      'prometheus-service',
      service(model, PROMETHEUS_SERVICE, prometheusPods, port('prometheus', 'http')),
    ),
    ...prometheusRbac(model),
    file('alertmanager', alertmanager(model)),
    file(
      'alertmanager-service',
      service(model, ALERTMANAGER_SERVICE, alertmanagerPods, port('alertmanager', 'http')),
    ),
    ...stackMonitors(model),
    ...appMonitors(model),
    ...rules(model),
  ];
}
