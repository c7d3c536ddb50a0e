/**
 * `otelkit verify --kubernetes` on a real single-node Kubernetes (scripts/local-cluster.sh up: etcd,
 * kube-apiserver, kubelet on a private containerd, scheduler, controller-manager, kube-proxy,
 * CoreDNS, and both operators against it): the generated k8s/ of the gateway example is applied,
 * reconciled by the real OpenTelemetry and Prometheus Operators, probed through the agent, and
 * its namespace deleted. The images are the project's local ones (scripts/build-images.sh),
 * imported into the node's containerd by `up`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { render } from '../../../generator/emit/emit.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

const SCRIPT = path.join(REPO, 'scripts/local-cluster.sh');
const SPEC = 'examples/gateway/otelkit.yaml';
const COLD_BUILD_MS = 60 * 60_000;
// a cluster of its own: the dry-run test's API server may run at the same time
const CLUSTER_ENV = {
  OTELKIT_CLUSTER_DIR: path.join(process.env.HOME ?? '/root', '.cache/otelkit/k8s/cluster-node'),
  OTELKIT_ETCD_PORT: '23800',
  OTELKIT_APISERVER_PORT: '26444',
};

let env: Record<string, string | undefined> = {};

async function buildImages(manifest: string): Promise<Record<string, string>> {
  const result = await execa(path.join(REPO, 'scripts/build-images.sh'), [manifest], {
    cwd: REPO,
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) throw new Error(`building images failed:\n${result.all?.slice(-3000)}`);
  return Object.fromEntries(
    result.stdout
      .split('\n')
      .map((line) => line.split('='))
      .filter(([key, value]) => key && value),
  ) as Record<string, string>;
}

const script = (args: string[]) =>
  execa(SCRIPT, args, { reject: false, all: true, env: { ...process.env, ...CLUSTER_ENV } });

beforeAll(async () => {
  // the gateway example's own Collector distribution (its manifest has the load-balancing exporter)
  const loaded = await loadSpec(path.join(REPO, SPEC));
  const dir = await tempDir('k8s-verify');
  for (const [relative, content] of render(generateArtifacts(loaded.model), 'test')) {
    if (!relative.startsWith('stacks/collector/')) continue;
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await writeFile(path.join(dir, relative), content);
  }
  const images = await buildImages(path.join(dir, 'stacks/collector/builder-config.yaml'));
  const up = await script(['up']);
  if (up.exitCode !== 0) throw new Error(`local-cluster.sh up failed:\n${String(up.all).slice(-4000)}`);
  const kubeconfig = /^KUBECONFIG=(.+)$/.exec(up.stdout.trim().split('\n').at(-1) ?? '')?.[1];
  const kubectl = /^KUBECTL=(.+)$/m.exec(up.stdout)?.[1];
  expect(kubeconfig).toBeDefined();
  env = { ...process.env, ...images, KUBECONFIG: kubeconfig, KUBECTL: kubectl };
}, COLD_BUILD_MS);

afterAll(async () => {
  const down = await script(['down']);
  expect(down.exitCode).toBe(0);
  // nothing of the node is left: its bridge, its blackhole routes and its guard chain are gone
  const links = await execa('ip', ['-o', 'link', 'show']);
  expect(links.stdout).not.toContain('otelkit0');
  const routes = await execa('ip', ['route', 'show', 'type', 'blackhole']);
  expect(routes.stdout).not.toMatch(/10\.244\.0\.0\/16|10\.96\.0\.0\/16/);
  const guard = await execa('iptables', ['-w', '-S', 'OTELKIT-GUARD'], { reject: false });
  expect(guard.exitCode).not.toBe(0);
}, 120_000);

it(
  'verify --kubernetes passes for the gateway example on the local cluster, and deletes its namespace',
  async () => {
    const result = await cli(['verify', '--kubernetes', SPEC], REPO, env);
    if (result.code !== 0)
      throw new Error(`verify --kubernetes failed:\n${result.stdout}\n${result.stderr.slice(-6000)}`);
    expect(result.stdout).toMatch(/operators reconciled k8s\/: every workload Ready\s+ok/);
    expect(result.stdout).toMatch(/trace stored in Tempo with its spans\s+ok/);
    expect(result.stdout).toMatch(
      /every recording and alerting rule loaded and evaluating without error\s+ok/,
    );
    expect(result.stdout).not.toContain('MISSING');
    const namespace = /namespace (otelkit-verify-[0-9a-f]+)/.exec(result.stderr)?.[1];
    expect(namespace).toBeDefined();
    const left = await execa(
      env.KUBECTL!,
      ['--kubeconfig', env.KUBECONFIG!, 'get', 'namespace', namespace!],
      {
        reject: false,
      },
    );
    expect(left.stderr).toContain('NotFound');
    // network safety, with the node's pods having come and gone: the pod range is the bridge's,
    // and the guard chain dropped no packet to a pod or service address bound elsewhere
    const route = await execa('ip', ['route', 'get', '10.244.0.250']);
    expect(route.stdout).toContain('dev otelkit0');
    expect(route.stdout).not.toContain(' via ');
    const guard = await execa('iptables', ['-w', '-n', '-v', '-x', '-L', 'OTELKIT-GUARD']);
    const drop = guard.stdout.split('\n').find((line) => /\bDROP\b/.test(line));
    expect(drop?.trim().split(/\s+/)[0]).toBe('0');
  },
  30 * 60_000,
);

it('exits 2 on an invalid spec, before touching the cluster', async () => {
  const dir = await tempDir('k8s-verify-bad');
  const spec = path.join(dir, 'otelkit.yaml');
  await writeFile(spec, 'version: 1\nproject: demo\nkubernetes:\n  namespace: Not_A_Name\n');
  const result = await cli(['verify', '--kubernetes', spec], REPO, env);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/otelkit\.yaml:\d+:\d+: kubernetes\.namespace/);
  expect(result.stderr).not.toContain('applying k8s/');
});
