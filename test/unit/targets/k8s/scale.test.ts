import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadSpec } from '../../../../generator/spec/load.ts';
import { kubernetesArtifacts } from '../../../../generator/targets/k8s/index.ts';
import { lokiConfig } from '../../../../generator/targets/loki.ts';
import { tempoConfig } from '../../../../generator/targets/tempo.ts';
import { REPO } from '../../../support/helpers.ts';

/**
 * k8s/scale/: the upstream charts' values for more than one node carry the same retention, limits
 * and schema as the Loki and Tempo configs the single-replica StatefulSets run, and stay out of the
 * kustomize base (they are Helm values, documented, not applied by the tests).
 */

type Values = Record<string, Record<string, Record<string, unknown>>>;

async function scale(example: string) {
  const { model } = await loadSpec(path.join(REPO, 'examples', example, 'otelkit.yaml'));
  const artifacts = kubernetesArtifacts(model);
  const content = (file: string) => artifacts.find((a) => a.path === `k8s/scale/${file}`)?.content as Values;
  const kustomization = artifacts.find((a) => a.path === 'k8s/kustomization.yaml')!.content as {
    resources: string[];
  };
  return {
    model,
    loki: content('loki-values.yaml'),
    tempo: content('tempo-distributed-values.yaml'),
    kustomization,
  };
}

describe('k8s/scale/ chart values', () => {
  it.each(['shop', 'gateway'])(
    'examples/%s: the same retention, limits and schema as the configs',
    async (example) => {
      const { model, loki, tempo, kustomization } = await scale(example);
      const config = lokiConfig(model);
      expect(loki.deploymentMode).toBe('SimpleScalable');
      expect(loki.loki!.limits_config).toEqual(config.limits_config);
      expect(loki.loki!.ingester).toEqual(config.ingester);
      expect(loki.loki!.compactor).toMatchObject({ retention_enabled: true, retention_delete_delay: '2h' });
      const schema = loki.loki!.schemaConfig as { configs: Record<string, unknown>[] };
      expect(schema.configs.map(({ object_store: _store, ...c }) => c)).toEqual(
        config.schema_config.configs.map(({ object_store: _store, ...c }) => c),
      );
      const structured = tempo.tempo!.structuredConfig as Record<string, unknown>;
      expect(structured.compactor).toEqual(tempoConfig(model).compactor);
      expect(structured.overrides).toEqual(tempoConfig(model).overrides);
      expect(kustomization.resources.some((r) => r.startsWith('scale/'))).toBe(false);
    },
  );

  it('follows the spec: a different log and trace retention changes both values files', async () => {
    const { model } = await loadSpec(path.join(REPO, 'examples/gateway/otelkit.yaml'));
    const changed = {
      ...model,
      signals: {
        ...model.signals,
        logs: {
          ...model.signals.logs,
          retentionMs: { ...model.signals.logs.retentionMs, application: 3 * 86_400_000 },
        },
        traces: { ...model.signals.traces, retentionMs: 2 * 86_400_000 },
      },
    };
    const artifacts = kubernetesArtifacts(changed);
    const values = (file: string) => artifacts.find((a) => a.path === `k8s/scale/${file}`)!.content as Values;
    expect(values('loki-values.yaml').loki!.limits_config).toMatchObject({ retention_period: '3d' });
    expect(values('tempo-distributed-values.yaml').tempo!.structuredConfig).toMatchObject({
      compactor: { compaction: { block_retention: '48h' } },
    });
  });
});
