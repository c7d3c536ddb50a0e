/**
 * Measurement, not a test: the share of complete traces (every span of the trace in Tempo) before,
 * during and after one gateway pod is deleted under steady probe traffic, on the cluster of the
 * current kubeconfig (e.g. scripts/local-cluster.sh up), with the generated k8s/ of a gateway-mode
 * spec deployed by `otelkit verify --kubernetes`'s own code in a throwaway namespace.
 *
 *   KUBECONFIG=... KUBECTL=... OTELKIT_<NAME>_IMAGE=... node test/k8s/gateway-kill.ts [spec]
 *
 * Each trace is a failing server span and two client spans, sent 1.5 s apart as an app exports
 * them while the request runs, so a trace is split when the agents' load-balancing ring changes
 * between its spans: a gateway that sees only the client spans does not know the trace failed and
 * keeps it at the base rate only.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { loadSpec } from '../../../generator/spec/load.ts';
import { COLLECTOR_NAMES } from '../../../generator/targets/k8s/collector.ts';
import {
  IMAGE_COMPONENTS,
  verifyKubernetes,
  type Deployed,
  type ImageComponent,
} from '../../../generator/verify/kubernetes.ts';
import { traceInTempo, type CheckResult } from '../../../generator/verify/verify.ts';

const RATE_PER_S = 5;
const SPAN_GAP_MS = 1500;
const SPANS = 3;
const PHASE_MS = 45_000;
/** A trace whose spans were sent within this of the deletion or the recovery counts as "during". */
const TRACE_SPAN_MS = (SPANS - 1) * SPAN_GAP_MS;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  traceId: string;
  startedAt: number;
  failed: boolean;
}

async function sendSpan(url: string, service: string, span: Record<string, unknown>) {
  const response = await fetch(`${url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeSpans: [{ scope: { name: 'otelkit-gateway-kill' }, spans: [span] }],
        },
      ],
    }),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
}

async function sendTrace(url: string, service: string, sent: Sent) {
  const rootId = hex(8);
  const now = () => BigInt(Date.now()) * 1_000_000n;
  const start = now();
  for (let i = 0; i < SPANS; i++) {
    if (i > 0) await sleep(SPAN_GAP_MS);
    const end = now();
    await sendSpan(url, service, {
      traceId: sent.traceId,
      spanId: i === 0 ? rootId : hex(8),
      ...(i === 0 ? {} : { parentSpanId: rootId }),
      name: i === 0 ? 'GET /probe' : `SELECT ${i}`,
      kind: i === 0 ? 2 : 3,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(end),
      status: { code: i === 0 ? 2 : 0 },
    });
  }
}

async function measure({ namespace, model, kubectl, endpoints }: Deployed): Promise<CheckResult[]> {
  const service = model.services[0]!.name;
  const gateway = `${COLLECTOR_NAMES.gateway}-collector`;
  const victim = `${gateway}-1`;
  const sent: Sent[] = [];
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const traffic = setInterval(() => {
    const trace: Sent = { traceId: hex(16), startedAt: Date.now(), failed: false };
    sent.push(trace);
    void sendTrace(endpoints.otlpHttp, service, trace).catch(() => (trace.failed = true));
  }, 1000 / RATE_PER_S);

  log(`steady traffic: ${RATE_PER_S} traces/s of ${SPANS} spans ${SPAN_GAP_MS} ms apart`);
  await sleep(PHASE_MS);
  const before = (await kubectl.list('pods')).find((p) => p.metadata.name === victim);
  const deletedAt = Date.now();
  log(`deleting pod ${victim}`);
  await kubectl.run(['delete', 'pod', victim, '-n', namespace, '--wait=false']);
  let recoveredAt = 0;
  while (!recoveredAt) {
    await sleep(1000);
    const pods = await kubectl.list('pods').catch(() => []);
    const replacement = pods.find((p) => p.metadata.name === victim);
    const ready = (
      replacement?.status as { conditions?: { type: string; status: string }[] } | undefined
    )?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const uid = (o: typeof replacement) => (o?.metadata as { uid?: string } | undefined)?.uid;
    if (replacement && ready && uid(replacement) !== uid(before)) recoveredAt = Date.now();
  }
  log(`replacement Ready after ${((recoveredAt - deletedAt) / 1000).toFixed(1)} s`);
  await sleep(PHASE_MS);
  clearInterval(traffic);
  // the last spans, the gateways' decision_wait (10 s) and Tempo's ingestion
  await sleep(TRACE_SPAN_MS + 30_000);

  const phaseOf = (t: Sent) =>
    t.startedAt + TRACE_SPAN_MS < deletedAt
      ? 'before'
      : t.startedAt > recoveredAt + TRACE_SPAN_MS
        ? 'after'
        : 'during';
  const counts = new Map<
    string,
    { sent: number; complete: number; partial: number; missing: number; failed: number }
  >();
  for (const trace of sent) {
    const row = counts.get(phaseOf(trace)) ?? { sent: 0, complete: 0, partial: 0, missing: 0, failed: 0 };
    counts.set(phaseOf(trace), row);
    row.sent++;
    if (trace.failed) row.failed++;
    const spans = (await traceInTempo(trace.traceId, endpoints)) ?? 0;
    if (spans >= SPANS) row.complete++;
    else if (spans > 0) row.partial++;
    else row.missing++;
  }
  const lines = [
    'phase   traces  complete  share    partial  missing  send errors',
    ...['before', 'during', 'after'].map((phase) => {
      const r = counts.get(phase) ?? { sent: 0, complete: 0, partial: 0, missing: 0, failed: 0 };
      const share = r.sent ? ((100 * r.complete) / r.sent).toFixed(1) : '-';
      return `${phase.padEnd(7)} ${String(r.sent).padStart(6)}  ${String(r.complete).padStart(8)}  ${share.padStart(5)} %  ${String(r.partial).padStart(7)}  ${String(r.missing).padStart(7)}  ${String(r.failed).padStart(11)}`;
    }),
    `during = traces with a span sent between ${TRACE_SPAN_MS / 1000} s before the deletion and ${TRACE_SPAN_MS / 1000} s after the replacement was Ready (${((recoveredAt - deletedAt) / 1000).toFixed(1)} s)`,
  ];
  for (const line of lines) process.stdout.write(`${line}\n`);
  return [{ name: 'gateway-kill measurement', ok: true, detail: lines.join('\n') }];
}

const spec = path.resolve(process.argv[2] ?? 'examples/gateway/otelkit.yaml');
const loaded = await loadSpec(spec);
if (loaded.model.collector.mode !== 'gateway') throw new Error(`${spec}: not a gateway-mode spec`);
const localImages: Partial<Record<ImageComponent, string>> = {};
for (const component of IMAGE_COMPONENTS) {
  const image = process.env[`OTELKIT_${component.toUpperCase()}_IMAGE`];
  if (image) localImages[component] = image;
}
const results = await verifyKubernetes({
  model: loaded.model,
  kubectl: process.env.KUBECTL ?? 'kubectl',
  kubeconfig: process.env.KUBECONFIG,
  localImages,
  progress: (line) => process.stderr.write(`${line}\n`),
  run: measure,
});
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
if (process.exitCode) for (const r of results) if (!r.ok) process.stderr.write(`${r.name}: ${r.detail}\n`);
