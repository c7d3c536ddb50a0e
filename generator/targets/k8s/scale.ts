import type { Model } from '../../model/model.ts';
import type { Artifact } from '../artifact.ts';
import { lokiConfig } from '../loki.ts';
import { tempoConfig } from '../tempo.ts';
import { serviceHost } from './common.ts';

/**
 * Beyond one node: values for the upstream charts' scalable modes (grafana/loki in SimpleScalable
 * mode, grafana/tempo-distributed), carrying the generated configs' retention, limits, schema and
 * metrics-generator settings so that scaling out keeps what the single-replica StatefulSets do.
 * Not part of the kustomize base and not what the tests run (the chart sources are not reachable
 * here); both modes need object storage, whose buckets are named after the project and whose
 * credentials are the user's to add.
 */

const REPLICAS = 3;

function lokiValues(model: Model) {
  const config = lokiConfig(model);
  const objectStore = 's3';
  // the single binary's filesystem paths are not the chart's; everything else carries over
  const compactor: Partial<typeof config.compactor> = { ...config.compactor };
  delete compactor.working_directory;
  return {
    deploymentMode: 'SimpleScalable',
    loki: {
      auth_enabled: config.auth_enabled,
      schemaConfig: {
        configs: config.schema_config.configs.map((c) => ({ ...c, object_store: objectStore })),
      },
      limits_config: config.limits_config,
      compactor: { ...compactor, delete_request_store: objectStore },
      ingester: config.ingester,
      analytics: config.analytics,
      storage: {
        type: objectStore,
        bucketNames: {
          chunks: `${model.project}-loki-chunks`,
          ruler: `${model.project}-loki-ruler`,
          admin: `${model.project}-loki-admin`,
        },
      },
    },
    write: { replicas: REPLICAS },
    read: { replicas: REPLICAS },
    backend: { replicas: REPLICAS },
    singleBinary: { replicas: 0 },
  };
}

function tempoValues(model: Model) {
  const config = tempoConfig(model);
  const { storage: generatorStorage, ...generator } = config.metrics_generator;
  // the chart runs in a namespace of its own choosing: Prometheus by its full in-cluster name
  const remoteWrite = generatorStorage.remote_write.map((target) => {
    const url = new URL(target.url);
    url.hostname = serviceHost(model, url.hostname);
    return { ...target, url: url.toString() };
  });
  return {
    tempo: {
      // merged into the chart's tempo.yaml
      structuredConfig: {
        compactor: config.compactor,
        metrics_generator: { ...generator, storage: { remote_write: remoteWrite } },
        overrides: config.overrides,
      },
    },
    ingester: { replicas: REPLICAS },
    distributor: { replicas: 2 },
    metricsGenerator: { enabled: true },
    traces: { otlp: { grpc: { enabled: true }, http: { enabled: true } } },
    storage: { trace: { backend: 's3', s3: { bucket: `${model.project}-tempo-traces` } } },
    reportingEnabled: config.usage_report.reporting_enabled,
  };
}

export function scaleArtifacts(model: Model): Artifact[] {
  return [
    { path: 'k8s/scale/loki-values.yaml', format: 'yaml', content: lokiValues(model) },
    { path: 'k8s/scale/tempo-distributed-values.yaml', format: 'yaml', content: tempoValues(model) },
  ];
}
