import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SpecError, formatProblem } from '../../../../generator/spec/diagnostics.ts';
import { loadSpec } from '../../../../generator/spec/load.ts';
import { REPO, tempDir } from '../../../support/helpers.ts';

/** The spec's kubernetes: section: defaults, and every bad value located at once. */

async function withKubernetes(section: string) {
  const base = await readFile(path.join(REPO, 'examples/gateway/otelkit.yaml'), 'utf8');
  const file = path.join(await tempDir('k8s-spec'), 'otelkit.yaml');
  await writeFile(file, `${base.trimEnd()}\nkubernetes:\n${section}`);
  return loadSpec(file, 'otelkit.yaml');
}

describe('kubernetes: spec section', () => {
  it('has defaults for every key', async () => {
    const loaded = await loadSpec(path.join(REPO, 'examples/gateway/otelkit.yaml'));
    expect(loaded.model.kubernetes).toEqual({
      namespace: 'observability',
      storage: {
        prometheus: '20Gi',
        alertmanager: '1Gi',
        loki: '10Gi',
        tempo: '10Gi',
        collector_queue: '2Gi',
      },
      images: {},
      resources: {
        prometheus: { cpu: '500m', memory: '2Gi' },
        alertmanager: { cpu: '50m', memory: '128Mi' },
        loki: { cpu: '250m', memory: '1Gi' },
        tempo: { cpu: '250m', memory: '1Gi' },
      },
      app_dir: '/app',
    });
  });

  it('takes overrides', async () => {
    const loaded = await withKubernetes(
      '  namespace: telemetry\n  storage_class: fast-ssd\n  storage:\n    loki: 50Gi\n  images:\n    collector: registry.example/otelcol-otelkit:7.1.2\n',
    );
    expect(loaded.model.kubernetes.namespace).toBe('telemetry');
    expect(loaded.model.kubernetes.storage_class).toBe('fast-ssd');
    expect(loaded.model.kubernetes.storage.loki).toBe('50Gi');
    expect(loaded.model.kubernetes.storage.tempo).toBe('10Gi');
    expect(loaded.model.kubernetes.images.collector).toBe('registry.example/otelcol-otelkit:7.1.2');
  });

  it('reports every bad value with its line, column and how to fix it', async () => {
    const error = await withKubernetes(
      '  namespace: Telemetry_NS\n  storage:\n    loki: 50 gigs\n  resources:\n    tempo:\n      cpu: lots\n  app_dir: app\n  replicas: 3\n',
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpecError);
    const problems = (error as SpecError).problems;
    expect(problems.map((p) => p.path)).toEqual([
      'kubernetes.namespace',
      'kubernetes.storage.loki',
      'kubernetes.resources.tempo.cpu',
      'kubernetes.app_dir',
      'kubernetes.replicas',
    ]);
    for (const problem of problems) {
      expect(formatProblem(problem)).toMatch(/^otelkit\.yaml:\d+:\d+: kubernetes\.[a-z_.]+: .+; .+/);
    }
    expect(formatProblem(problems[1]!)).toContain('"50 gigs" is not a Kubernetes quantity');
  });
});
