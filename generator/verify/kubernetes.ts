import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { dump, loadAll } from 'js-yaml';
import { buildCatalogue } from '../alerting/catalogue.ts';
import { render, writeOutput } from '../emit/emit.ts';
import type { Model } from '../model/model.ts';
import { generateArtifacts } from '../targets/index.ts';
import { port } from '../model/topology.ts';
import { COLLECTOR_NAMES, collectorNames, collectorPodSelector } from '../targets/k8s/collector.ts';
import { STACK_NAME } from '../targets/k8s/common.ts';
import { ALERTMANAGER_SERVICE, PROMETHEUS_SERVICE } from '../targets/k8s/monitoring.ts';
import { verifyStack, type CheckResult, type Endpoints } from './verify.ts';

/**
 * `otelkit verify --kubernetes`: the generated k8s/ applied to the current kubeconfig's cluster in
 * a namespace of its own, the operators' reconciliation awaited, then the same probe and checks as
 * the compose verify, through `kubectl port-forward` on loopback. The namespace (and the
 * cluster-scoped RBAC, named after it) is deleted afterwards whatever happened.
 */

export type ImageComponent = keyof Model['kubernetes']['images'];
export const IMAGE_COMPONENTS: readonly ImageComponent[] = [
  'collector',
  'prometheus',
  'alertmanager',
  'loki',
  'tempo',
];

export interface KubernetesVerifyOptions {
  model: Model;
  /** kubectl binary; the cluster is the kubeconfig's current context ($KUBECONFIG or ~/.kube/config). */
  kubectl: string;
  /** else $KUBECONFIG or ~/.kube/config, as kubectl reads them */
  kubeconfig?: string | undefined;
  /** Images already on the nodes (OTELKIT_<NAME>_IMAGE, as for the compose verify): never pulled. */
  localImages: Partial<Record<ImageComponent, string>>;
  progress: (line: string) => void;
  namespace?: string;
  readyTimeoutMs?: number;
  /** Instead of the verify checks, once everything is Ready (e.g. a measurement under load). */
  run?: (deployed: Deployed) => Promise<CheckResult[]>;
  checkTimeoutMs?: number;
}

/** What a run on the deployed stack gets: its namespace, kubectl there, the port-forwards. */
export interface Deployed {
  namespace: string;
  model: Model;
  kubectl: Kubectl;
  endpoints: Endpoints;
}

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

/** Names the operators give the workloads of the resources in k8s/. */
export function expectedWorkloads(model: Model): { kind: string; name: string; replicas: number }[] {
  const gatewayMode = model.collector.mode === 'gateway';
  const collectorKind = model.collector.persistentQueue.enabled ? 'StatefulSet' : 'Deployment';
  return [
    ...collectorNames(model).map((name) =>
      name === COLLECTOR_NAMES.agent
        ? { kind: 'DaemonSet', name: `${name}-collector`, replicas: 0 }
        : {
            kind: collectorKind,
            name: `${name}-collector`,
            replicas: gatewayMode ? model.collector.gatewayReplicas : 1,
          },
    ),
    { kind: 'StatefulSet', name: `prometheus-${STACK_NAME}`, replicas: 1 },
    { kind: 'StatefulSet', name: `alertmanager-${STACK_NAME}`, replicas: 1 },
    { kind: 'StatefulSet', name: 'loki', replicas: 1 },
    { kind: 'StatefulSet', name: 'tempo', replicas: 1 },
  ];
}

/** The spec as this run deploys it: its own namespace, and the local images where given. */
export function clusterModel(
  model: Model,
  namespace: string,
  localImages: KubernetesVerifyOptions['localImages'],
) {
  return {
    ...model,
    kubernetes: { ...model.kubernetes, namespace, images: { ...model.kubernetes.images, ...localImages } },
  };
}

const WITH_POD_TEMPLATE = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
const OPERATOR_KINDS = new Set(['OpenTelemetryCollector', 'Prometheus', 'Alertmanager']);

/** Local images are on the nodes already: a pull would go to a registry that is not there. */
export function neverPull(objects: K8sObject[]): K8sObject[] {
  return objects.map((object) => {
    if (OPERATOR_KINDS.has(object.kind)) {
      return { ...object, spec: { ...object.spec, imagePullPolicy: 'Never' } };
    }
    if (!WITH_POD_TEMPLATE.has(object.kind)) return object;
    const template = object.spec!.template as { spec: { containers: Record<string, unknown>[] } };
    return {
      ...object,
      spec: {
        ...object.spec,
        template: {
          ...template,
          spec: {
            ...template.spec,
            containers: template.spec.containers.map((c) => ({ ...c, imagePullPolicy: 'Never' })),
          },
        },
      },
    };
  });
}

export const throwawayNamespace = () => `otelkit-verify-${randomBytes(3).toString('hex')}`;

export class Kubectl {
  private readonly binary: string;
  private readonly base: string[];
  private readonly namespace: string;

  constructor(options: Pick<KubernetesVerifyOptions, 'kubectl' | 'kubeconfig'>, namespace: string) {
    this.namespace = namespace;
    this.binary = options.kubectl;
    this.base = options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : [];
  }

  async run(args: string[], input?: string) {
    const result = await execa(this.binary, [...this.base, ...args], {
      input,
      reject: false,
      all: true,
      timeout: 300_000,
    });
    if (result.exitCode !== 0) {
      throw new Error(
        `kubectl ${args.slice(0, 3).join(' ')}: ${String(result.all).trim().split('\n').slice(-3).join(' | ')}`,
      );
    }
    return String(result.stdout);
  }

  async list(kinds: string, selector?: string): Promise<K8sObject[]> {
    const args = ['get', kinds, '-n', this.namespace, '-o', 'json'];
    if (selector) args.push('-l', selector);
    return (JSON.parse(await this.run(args)) as { items: K8sObject[] }).items;
  }

  /** `kubectl port-forward` of TARGET's PORT to a free loopback port; resolves to its URL. */
  portForward(target: string, port: number, forwards: ChildProcess[]): Promise<string> {
    const child = spawn(
      this.binary,
      [...this.base, 'port-forward', '-n', this.namespace, '--address', '127.0.0.1', target, `:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    forwards.push(child);
    return new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(
        () => reject(new Error(`port-forward ${target}: no port after 30 s: ${output}`)),
        30_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(`http://127.0.0.1:${match[1]}`);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`port-forward ${target} exited (${code}): ${output.trim()}`));
      });
    });
  }
}

function workloadState(object: K8sObject | undefined, replicas: number): { ready: boolean; text: string } {
  if (!object) return { ready: false, text: 'not created yet' };
  const status = (object.status ?? {}) as Record<string, number | undefined>;
  if (object.kind === 'DaemonSet') {
    const desired = status.desiredNumberScheduled ?? 0;
    const ready = status.numberReady ?? 0;
    return { ready: desired > 0 && ready === desired, text: `${ready}/${desired}` };
  }
  const want = Math.max(replicas, Number(object.spec?.replicas ?? 1));
  const ready = status.readyReplicas ?? 0;
  return { ready: ready >= want, text: `${ready}/${want}` };
}

/** Why a pod is not Ready, in a few words (a waiting reason, a scheduling message). */
function podProblems(pods: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const pod of pods) {
    const status = pod.status as {
      phase?: string;
      conditions?: { type: string; status: string; message?: string }[];
      containerStatuses?: {
        name: string;
        ready: boolean;
        state?: { waiting?: { reason?: string; message?: string } };
      }[];
    };
    const waiting = (status.containerStatuses ?? [])
      .filter((c) => !c.ready && c.state?.waiting?.reason && c.state.waiting.reason !== 'ContainerCreating')
      .map((c) => `${c.name} ${c.state!.waiting!.reason}`);
    const unschedulable = (status.conditions ?? []).find(
      (c) => c.type === 'PodScheduled' && c.status === 'False',
    );
    if (waiting.length > 0) problems.push(`${pod.metadata.name}: ${waiting.join(', ')}`);
    else if (unschedulable)
      problems.push(`${pod.metadata.name}: ${unschedulable.message ?? 'unschedulable'}`);
  }
  return problems;
}

async function waitReady(
  kubectl: Kubectl,
  model: Model,
  options: KubernetesVerifyOptions,
): Promise<CheckResult> {
  const name = 'operators reconciled k8s/: every workload Ready';
  const expected = expectedWorkloads(model);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 600_000);
  let last = '';
  for (;;) {
    const objects = await kubectl.list('deployments,statefulsets,daemonsets').catch(() => []);
    const states = expected.map((w) => ({
      ...w,
      ...workloadState(
        objects.find((o) => o.kind === w.kind && o.metadata.name === w.name),
        w.replicas,
      ),
    }));
    const summary = states.map((s) => `${s.name} ${s.text}`).join(', ');
    if (states.every((s) => s.ready)) {
      options.progress(`  ready: ${summary}`);
      return { name, ok: true, detail: summary };
    }
    const problems = podProblems(await kubectl.list('pods').catch(() => []));
    const line = `  waiting: ${states
      .filter((s) => !s.ready)
      .map((s) => `${s.name} ${s.text}`)
      .join(', ')}${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`;
    if (line !== last) options.progress(line);
    last = line;
    if (Date.now() > deadline) {
      return { name, ok: false, detail: `not Ready in time: ${last.trim().replace(/^waiting: /, '')}` };
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

/** Applies k8s/ in a throwaway namespace, runs the checks, always deletes what it applied. */
export async function verifyKubernetes(options: KubernetesVerifyOptions): Promise<CheckResult[]> {
  const namespace = options.namespace ?? throwawayNamespace();
  const model = clusterModel(options.model, namespace, options.localImages);
  const kubectl = new Kubectl(options, namespace);
  const { progress } = options;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-verify-k8s-'));
  const forwards: ChildProcess[] = [];
  let applied: K8sObject[] = [];
  try {
    await writeOutput(scratch, render(generateArtifacts(model), 'verify'));
    const rendered = (
      loadAll(await kubectl.run(['kustomize', path.join(scratch, 'k8s')])) as K8sObject[]
    ).filter(Boolean);
    const objects = Object.keys(options.localImages).length > 0 ? neverPull(rendered) : rendered;
    const context = (await kubectl.run(['config', 'current-context']).catch(() => '?')).trim();
    progress(`applying k8s/ (${objects.length} objects) to namespace ${namespace} of context ${context}`);
    applied = objects;
    const [namespaces, rest] = [
      objects.filter((o) => o.kind === 'Namespace'),
      objects.filter((o) => o.kind !== 'Namespace'),
    ];
    const yaml = (list: K8sObject[]) => list.map((o) => dump(o, { noRefs: true })).join('---\n');
    await kubectl.run(['apply', '--server-side', '--force-conflicts', '-f', '-'], yaml(namespaces));
    await kubectl.run(['apply', '--server-side', '--force-conflicts', '-f', '-'], yaml(rest));

    progress('waiting for the operators to reconcile …');
    const ready = await waitReady(kubectl, model, options);
    if (!ready.ok) return [ready];

    const agent = model.collector.mode === 'gateway' ? COLLECTOR_NAMES.agent : COLLECTOR_NAMES.single;
    const selector = Object.entries(collectorPodSelector(agent))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const agentPod = (await kubectl.list('pods', selector)).find(
      (p) => (p.status as { phase?: string }).phase === 'Running',
    );
    if (!agentPod)
      return [
        ready,
        { name: 'probe sent to the agent', ok: false, detail: `no running pod for ${selector}` },
      ];
    const [otlpHttp, prometheus, alertmanager, loki, tempo] = await Promise.all([
      kubectl.portForward(`pod/${agentPod.metadata.name}`, port('collector', 'otlpHttp'), forwards),
      kubectl.portForward(`service/${PROMETHEUS_SERVICE}`, port('prometheus', 'http'), forwards),
      kubectl.portForward(`service/${ALERTMANAGER_SERVICE}`, port('alertmanager', 'http'), forwards),
      kubectl.portForward('service/loki', port('loki', 'http'), forwards),
      kubectl.portForward('service/tempo', port('tempo', 'http'), forwards),
    ]);
    const endpoints: Endpoints = {
      otlpHttp: otlpHttp!,
      prometheus: prometheus!,
      alertmanager: alertmanager!,
      loki: loki!,
      tempo: tempo!,
    };
    if (options.run) return [ready, ...(await options.run({ namespace, model, kubectl, endpoints }))];
    progress(`probe to ${agentPod.metadata.name} through ${otlpHttp}`);
    const results = await verifyStack({
      outDir: scratch,
      model,
      progress,
      endpoints,
      timeoutMs: options.checkTimeoutMs ?? 180_000,
    });
    return [ready, ...results, await everyRuleLoaded(model, endpoints)];
  } finally {
    for (const child of forwards) child.kill('SIGTERM');
    await cleanUp(options, namespace, applied);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Each rule of alerts/ by group, in the in-cluster Prometheus through its PrometheusRule. */
async function everyRuleLoaded(model: Model, endpoints: Endpoints): Promise<CheckResult> {
  const name = 'every rule of alerts/ loaded from its PrometheusRule';
  const expected = buildCatalogue(model).files.flatMap((file) =>
    [...file.recording.map((r) => r.record), ...file.alerts.map(({ rule }) => rule.alert)].map(
      (rule) => `${file.groupName}/${rule}`,
    ),
  );
  try {
    const response = await fetch(`${endpoints.prometheus}/api/v1/rules`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as {
      data: { groups: { name: string; rules: { name: string }[] }[] };
    };
    const loaded = new Set(body.data.groups.flatMap((g) => g.rules.map((r) => `${g.name}/${r.name}`)));
    const missing = expected.filter((rule) => !loaded.has(rule));
    if (missing.length > 0) {
      return {
        name,
        ok: false,
        detail: `${missing.length} of ${expected.length} not loaded, e.g. ${missing.slice(0, 3).join(', ')}`,
      };
    }
    return { name, ok: true, detail: `${expected.length} rules in ${body.data.groups.length} groups` };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message };
  }
}

export async function cleanUp(options: KubernetesVerifyOptions, namespace: string, applied: K8sObject[]) {
  const kubectl = new Kubectl(options, namespace);
  options.progress(`deleting namespace ${namespace} …`);
  const clusterScoped = applied.filter((o) => !o.metadata.namespace && o.kind !== 'Namespace');
  for (const object of clusterScoped) {
    await kubectl
      .run(['delete', object.kind, object.metadata.name, '--ignore-not-found', '--wait=false'])
      .catch((error: Error) => options.progress(`  ${error.message}`));
  }
  await kubectl
    .run(['delete', 'namespace', namespace, '--ignore-not-found', '--timeout=180s'])
    .catch((error: Error) => options.progress(`  ${error.message}`));
}
