/**
 * The generated k8s/ against a real kube-apiserver 1.37 with both operators' CRDs (generated from
 * their Go API types): `kubectl apply --server-side --dry-run=server -k` validates every object
 * against the CRD schemas and the built-in types, and a broken resource is refused. The API server
 * comes from scripts/local-cluster.sh (cached binaries; a cold build takes ~10 min, so .ci/run
 * builds it before the tests).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { dump, loadAll } from 'js-yaml';
import { render } from '../../../../generator/emit/emit.ts';
import type { Model } from '../../../../generator/model/model.ts';
import { loadSpec } from '../../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../../generator/targets/index.ts';
import { kubernetesTarget } from '../../../../generator/targets/k8s/index.ts';
import { REPO, tempDir } from '../../../support/helpers.ts';

const SCRIPT = path.join(REPO, 'scripts/local-cluster.sh');
const COLD_BUILD_MS = 60 * 60_000;

let kubectl = '';
let kubeconfig = '';

async function run(args: string[], input?: string) {
  return execa(kubectl, ['--kubeconfig', kubeconfig, ...args], { reject: false, input, all: true });
}

interface Generated {
  dir: string;
  model: Model;
}

async function generate(example: string): Promise<Generated> {
  const loaded = await loadSpec(path.join(REPO, 'examples', example, 'otelkit.yaml'));
  const artifacts = generateArtifacts(loaded.model);
  // until the target is registered, it is generated here on its own
  const all = artifacts.some((a) => a.path.startsWith('k8s/'))
    ? artifacts
    : [...artifacts, ...kubernetesTarget.generate(loaded.model)];
  const dir = await tempDir(`k8s-${example}`);
  for (const [relative, content] of render(all, 'test')) {
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await writeFile(path.join(dir, relative), content);
  }
  return { dir, model: loaded.model };
}

type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> };

async function rendered(dir: string): Promise<Doc[]> {
  const result = await run(['kustomize', dir]);
  expect(result.exitCode).toBe(0);
  return loadAll(result.stdout) as Doc[];
}

async function ensureNamespace(name: string) {
  const result = await run(
    ['apply', '--server-side', '-f', '-'],
    dump({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
  );
  expect(result.all).toContain(name);
  expect(result.exitCode).toBe(0);
}

beforeAll(async () => {
  const up = await execa(SCRIPT, ['up', '--api-only'], { reject: false, all: true });
  if (up.exitCode !== 0) throw new Error(`local-cluster.sh up --api-only failed:\n${up.all}`);
  const lines = up.stdout.trim().split('\n');
  kubeconfig = /^KUBECONFIG=(.+)$/.exec(lines.at(-1) ?? '')?.[1] ?? '';
  kubectl = /^KUBECTL=(.+)$/m.exec(up.stdout)?.[1] ?? '';
  expect(kubeconfig).not.toBe('');
  expect(kubectl).not.toBe('');
}, COLD_BUILD_MS);

afterAll(async () => {
  await execa(SCRIPT, ['down'], { reject: false });
});

describe('generated k8s/ on a real API server', () => {
  it("has both operators' CRDs served", async () => {
    const result = await run(['api-resources', '--api-group=monitoring.coreos.com', '-o', 'name']);
    expect(result.stdout).toMatch(/prometheuses\.monitoring\.coreos\.com/);
    expect(result.stdout).toMatch(/prometheusrules\.monitoring\.coreos\.com/);
    const otel = await run(['api-resources', '--api-group=opentelemetry.io', '-o', 'wide']);
    expect(otel.stdout).toMatch(/opentelemetrycollectors.*v1beta1/);
  });

  it.each(['shop', 'gateway'])(
    'examples/%s: every object of the base passes a server-side dry run',
    async (example) => {
      const { dir, model } = await generate(example);
      const base = path.join(dir, 'k8s');
      const docs = await rendered(base);
      // the kustomization lists every generated file of the base
      const kustomization = loadAll(await readFile(path.join(base, 'kustomization.yaml'), 'utf8'))[0] as {
        resources: string[];
      };
      expect(kustomization.resources.length).toBeGreaterThan(20);
      await ensureNamespace(model.kubernetes.namespace);
      const result = await run(['apply', '--server-side', '--dry-run=server', '-k', base]);
      expect(result.all).not.toMatch(/error|invalid|unknown field/i);
      expect(result.exitCode).toBe(0);
      const applied = result.stdout
        .split('\n')
        .filter((l) => l.endsWith('serverside-applied (server dry run)'));
      expect(applied).toHaveLength(docs.length);
      const kinds = new Set(docs.map((d) => d.kind));
      for (const kind of [
        'OpenTelemetryCollector',
        'Prometheus',
        'PrometheusRule',
        'PodMonitor',
        'ServiceMonitor',
        'Alertmanager',
        'StatefulSet',
        'ConfigMap',
        'Secret',
      ]) {
        expect(kinds).toContain(kind);
      }
      const collectors = docs.filter((d) => d.kind === 'OpenTelemetryCollector');
      if (model.collector.mode === 'gateway') {
        expect(collectors.map((c) => c.spec?.mode).sort()).toEqual(['daemonset', 'statefulset']);
        const gateway = collectors.find((c) => c.spec?.mode === 'statefulset')!;
        expect(gateway.spec?.replicas).toBe(model.collector.gatewayReplicas);
      } else {
        expect(collectors).toHaveLength(1);
      }
      for (const c of collectors) expect(c.spec?.upgradeStrategy).toBe('none');
    },
  );

  it("keeps the names of the gateway's volume claim templates (the CRDs carry embedded object metadata)", async () => {
    // a CRD without it prunes metadata.name, and the operator's StatefulSet is then refused
    const { dir, model } = await generate('gateway');
    const docs = await rendered(path.join(dir, 'k8s'));
    const gateway = docs.find((d) => d.kind === 'OpenTelemetryCollector' && d.spec?.mode === 'statefulset')!;
    await ensureNamespace(model.kubernetes.namespace);
    const result = await run(
      ['apply', '--server-side', '--dry-run=server', '-o', 'json', '-f', '-'],
      dump(gateway),
    );
    expect(result.exitCode).toBe(0);
    const stored = JSON.parse(result.stdout) as {
      spec: { volumeClaimTemplates: { metadata: { name?: string } }[] };
    };
    expect(stored.spec.volumeClaimTemplates.map((t) => t.metadata.name)).toEqual(['queue']);
  });

  it('a Deployment instrumented with its component passes the dry run with the OTEL_* env and the preload', async () => {
    const { dir, model } = await generate('gateway');
    const app = path.join(dir, 'app');
    await mkdir(app);
    const service = model.services.find((s) => s.runtime === 'node')!;
    await writeFile(
      path.join(app, 'deployment.yaml'),
      dump({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: service.name },
        spec: {
          selector: { matchLabels: { app: service.name } },
          template: {
            metadata: { labels: { app: service.name } },
            spec: {
              containers: [
                { name: service.name, image: 'ledger-api:1', env: [{ name: 'PORT', value: '8080' }] },
              ],
            },
          },
        },
      }),
    );
    await writeFile(
      path.join(app, 'kustomization.yaml'),
      dump({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        namespace: 'apps',
        resources: ['deployment.yaml'],
        components: [`../k8s/instrument/${service.name}`],
      }),
    );
    const docs = await rendered(app);
    const deployment = docs.find((d) => d.kind === 'Deployment') as unknown as {
      spec: {
        template: {
          spec: {
            containers: { env: { name: string; value: string }[] }[];
            volumes: { configMap: { name: string } }[];
          };
        };
      };
    };
    const env = Object.fromEntries(
      deployment.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]),
    );
    expect(env.PORT).toBe('8080');
    expect(env.OTEL_SERVICE_NAME).toBe(service.name);
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(
      `http://otelkit-agent-local.${model.kubernetes.namespace}.svc:4318`,
    );
    expect(env.NODE_OPTIONS).toMatch(new RegExp(`^--import /app/preload/${service.name}\\.mjs$`));
    const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
    expect(deployment.spec.template.spec.volumes[0]!.configMap.name).toBe(configMap.metadata.name);
    await ensureNamespace('apps');
    const result = await run(['apply', '--server-side', '--dry-run=server', '-k', app]);
    expect(result.exitCode).toBe(0);
  });

  it('refuses a collector with an unknown mode and a Prometheus with a malformed retention', async () => {
    const { dir, model } = await generate('gateway');
    const docs = await rendered(path.join(dir, 'k8s'));
    const collector = structuredClone(docs.find((d) => d.kind === 'OpenTelemetryCollector')!);
    collector.spec!.mode = 'sidecarset';
    const prometheus = structuredClone(docs.find((d) => d.kind === 'Prometheus')!);
    prometheus.spec!.retention = '15 days';
    await ensureNamespace(model.kubernetes.namespace);
    for (const [doc, message] of [
      [collector, /spec\.mode: Unsupported value: "sidecarset"/],
      [prometheus, /spec\.retention/],
    ] as const) {
      const result = await run(
        ['apply', '--server-side', '--dry-run=server', '-f', '-'],
        JSON.stringify(doc),
      );
      expect(result.exitCode).not.toBe(0);
      expect(result.all).toMatch(message);
    }
  });
});
