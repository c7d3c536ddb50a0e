/**
 * `npm run bench:collector`: the Collector built from the generated OCB manifest, running the
 * generated config (traces path: memory limiter, resource detection, route transform, redaction,
 * span metrics, both tail samplers) sized for collector.expected_load = BENCH_EXPECTED_SPANS, pinned
 * to one core with taskset. Spans come from otlp-replay.ts at rising rates, into stand-in OTLP
 * receivers, both on the other core. A rate is sustained when the Collector accepts every span sent
 * within the step (falling behind holds requests back), refuses none (memory limiter), fails to
 * enqueue or export none, and the tail samplers evict no trace before deciding on it; the ladder
 * stops at the first rate that is not. The same binary on a minimal otlp -> otlp pipeline is
 * measured in the same run: the ratio of spans per CPU second shows what the generated pipeline
 * costs. With BENCH_SIGNALS=traces,logs,metrics telemetrygen drives logs and metrics through both
 * configs as well, for what a log record and a data point cost against a span
 * (generator/model/capacity.ts reads these figures, and held_span_bytes, the resident memory a
 * span costs while the tail samplers hold it). Not a test: the last stdout line is one JSON object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { dump, load } from 'js-yaml';
import { buildCatalogue } from '../generator/alerting/catalogue.ts';
import { render } from '../generator/emit/emit.ts';
import { loadSpec } from '../generator/spec/load.ts';
import { generateArtifacts } from '../generator/targets/index.ts';
import { runScript } from '../generator/tools/scripts.ts';
import { BUILDER_MANIFEST, cacheDir } from '../generator/validate/collector.ts';
import { TELEMETRYGEN } from '../generator/model/versions.ts';
import { replayer, SPANS_PER_TRACE, type ReplayResult, type Replayer } from './otlp-replay.ts';
import { freePort } from '../test/support/helpers.ts';
import { collectorPorts, onLoopback, type CollectorPorts } from '../test/support/processes.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SPEC = process.env.BENCH_SPEC ?? 'examples/shop/otelkit.yaml';
const STEP_S = Number(process.env.BENCH_STEP_S ?? 10);
/** Offered span rates, each held for a step; the ladder stops at the first one not sustained. */
const SPAN_RATES = (
  process.env.BENCH_SPAN_RATES ?? '5000,10000,15000,20000,25000,30000,40000,50000,60000,80000'
)
  .split(',')
  .map(Number);
/** The load the generated config is sized for (collector.expected_load.spans_per_second). */
const EXPECTED_SPANS = Number(process.env.BENCH_EXPECTED_SPANS ?? 20_000);
/** telemetrygen's log and metric rates in items/s; 0 is unthrottled (as fast as its core goes). */
const RATES = (process.env.BENCH_RATES ?? '2000,0').split(',').map(Number);
/**
 * What telemetrygen sends: traces (the figure generator/model/capacity.ts sizes by), and logs and
 * metrics to see what a log record and a data point cost against a span.
 */
const SIGNALS = (process.env.BENCH_SIGNALS ?? 'traces').split(',') as Signal[];
type Signal = 'traces' | 'logs' | 'metrics';
/** The Collector's own counters of each signal's items, as its metrics name them. */
const ITEMS: Record<Signal, string> = { traces: 'spans', logs: 'log_records', metrics: 'metric_points' };
const CLOCK_TICKS = 100;
const WORKERS = 4;
const COLLECTOR_CORE = '0';
const LOAD_CORE = '1';

async function telemetrygen(): Promise<string> {
  const dir = path.join(cacheDir(process.env), 'bin', `telemetrygen-${TELEMETRYGEN.version}`);
  const binary = path.join(dir, 'telemetrygen');
  if (existsSync(binary)) return binary;
  console.error(`building telemetrygen ${TELEMETRYGEN.version} from its Go module (once, ~1 min)`);
  const work = await mkdtemp(path.join(os.tmpdir(), 'otelkit-telemetrygen-'));
  const env = { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  await execa('go', ['mod', 'init', 'telemetrygen-build'], { cwd: work, env });
  await execa('go', ['get', `${TELEMETRYGEN.module}@${TELEMETRYGEN.version}`], { cwd: work, env });
  await mkdir(dir, { recursive: true });
  await execa('nice', ['-n', '19', 'go', 'build', '-trimpath', '-o', binary, TELEMETRYGEN.module], {
    cwd: work,
    env,
  });
  await rm(work, { recursive: true, force: true });
  return binary;
}

async function collectorBinary(manifest: string): Promise<string> {
  const built = await runScript(process.env, (line) => console.error(line), 'build-collector.sh', [manifest]);
  if (!built) throw new Error('building the Collector failed (output above)');
  return built.trim().split('\n').pop()!;
}

/** Stand-in backends: an OTLP/gRPC and an OTLP/HTTP receiver that accept everything at once. */
async function sinks() {
  const grpc = http2.createServer();
  grpc.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      // an empty Export*ServiceResponse, length-prefixed
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  const httpSink = http.createServer((req, res) => {
    req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  const grpcPort = await freePort();
  const httpPort = await freePort();
  await new Promise<void>((resolve) => grpc.listen(grpcPort, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => httpSink.listen(httpPort, '127.0.0.1', resolve));
  return {
    grpc: `127.0.0.1:${grpcPort}`,
    http: `http://127.0.0.1:${httpPort}`,
    close: () => Promise.all([new Promise((r) => grpc.close(r)), new Promise((r) => httpSink.close(r))]),
  };
}

type Ports = CollectorPorts;

/** The generated config on loopback (the tests' onLoopback), every exporter sent to the sinks. */
function generatedOnSinks(
  config: Json,
  ports: Ports,
  sink: Awaited<ReturnType<typeof sinks>>,
  queueDir: string,
) {
  const exporters: Record<string, (exporter: Json) => void> = {};
  for (const [id, exporter] of Object.entries(config.exporters as Record<string, Json>)) {
    exporters[id] = (copy) => {
      if (id.startsWith('otlp_grpc/')) copy.endpoint = sink.grpc;
      if (exporter.metrics_endpoint) copy.metrics_endpoint = `${sink.http}/v1/metrics`;
      if (exporter.logs_endpoint) copy.logs_endpoint = `${sink.http}/v1/logs`;
      if (exporter.traces_endpoint) copy.traces_endpoint = `${sink.http}/v1/traces`;
    };
  }
  return onLoopback(config, { ports, queueDir, exporters });
}

/** The baseline: the same receiver and exporter, nothing between them. */
function minimal(ports: Ports, sink: Awaited<ReturnType<typeof sinks>>) {
  return {
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${ports.otlpGrpc}` } } } },
    exporters: { 'otlp_grpc/sink': { endpoint: sink.grpc, tls: { insecure: true } } },
    service: {
      telemetry: {
        metrics: {
          level: 'detailed',
          readers: [{ pull: { exporter: { prometheus: { host: '127.0.0.1', port: ports.metrics } } } }],
        },
      },
      pipelines: Object.fromEntries(
        (['traces', 'logs', 'metrics'] as const).map((signal) => [
          signal,
          { receivers: ['otlp'], exporters: ['otlp_grpc/sink'] },
        ]),
      ),
    },
  };
}

async function startPinned(binary: string, config: unknown, dir: string): Promise<ChildProcess> {
  const file = path.join(dir, 'config.yaml');
  await writeFile(file, dump(config, { noRefs: true, lineWidth: -1 }));
  const child = spawn('taskset', ['-c', COLLECTOR_CORE, binary, `--config=file:${file}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!/Everything is ready/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`Collector did not start:\n${output.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return child;
}

/**
 * The series CollectorTailSamplingEvicting reads: traces evicted younger than the decision wait,
 * i.e. decided on part of their spans.
 */
const EARLY_EVICTIONS = /rate\((\w+)\{le="([^"]+)"\}/;

/** Sums of the Collector's own counters, by metric name (every label set added up; histogram buckets by `le`). */
async function counters(metricsPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (!match) continue;
    const le = /le="([^"]+)"/.exec(match[2] ?? '')?.[1];
    const key = le === undefined ? match[1]! : `${match[1]!}{le="${le}"}`;
    sums.set(key, (sums.get(key) ?? 0) + Number(match[3]));
  }
  return sums;
}

/** A counter summed over its label sets (names starting so), or one bucket named exactly. */
const get = (m: Map<string, number>, name: string) =>
  name.includes('{')
    ? (m.get(name) ?? 0)
    : [...m]
        .filter(([key]) => key.startsWith(name) && !key.includes('{le='))
        .reduce((sum, [, value]) => sum + value, 0);

function parseSeconds(duration: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(duration);
  if (!match) throw new Error(`unexpected duration ${duration}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

/** Peak (VmHWM) or current (VmRSS) resident memory of a process, in MiB. */
function rssMib(pid: number, which: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${which}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

interface StepResult {
  signal: Signal;
  offered: number | 'unthrottled';
  accepted: number;
  acceptedPerS: number;
  cpuFraction: number;
  /** accepted items per CPU second of the Collector: what one core carries at full use */
  perCore: number;
  refused: number;
  failed: number;
  evictedEarly: number;
  /** Resident memory the step added: for traces, the spans the tail samplers still hold at its end. */
  rssGrowthMib: number;
  /** spans only: the replayer's view (requests answered, round-trip latency of an Export) */
  replay?: Pick<ReplayResult, 'acceptedSpansPerS' | 'rejectedRequests' | 'statuses' | 'p50Ms' | 'p99Ms'>;
  clean: boolean;
}

/** Share of the offered rate a step must reach to count as sustained (timer slack, not backlog). */
const SUSTAINED_SHARE = 0.98;

/**
 * Runs one step's load and reads what the Collector made of it: its own counters, CPU and memory
 * before and after, once the exporters and tail samplers have finished what they hold.
 */
async function observe<T>(
  ports: Ports,
  collector: ChildProcess,
  signal: Signal,
  load: () => Promise<T>,
): Promise<{ result: T } & Omit<StepResult, 'signal' | 'offered' | 'replay' | 'clean'>> {
  const before = await counters(ports.metrics);
  const cpuBefore = cpuSeconds(collector.pid!);
  const rssBefore = rssMib(collector.pid!, 'VmRSS');
  const started = performance.now();
  const result = await load();
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const cpu = cpuSeconds(collector.pid!) - cpuBefore;
  // read before the decision wait ends: every span of the step is still held
  const rssGrowthMib = rssMib(collector.pid!, 'VmRSS') - rssBefore;
  const after = await counters(ports.metrics);
  const delta = (name: string) => get(after, name) - get(before, name);
  const items = ITEMS[signal];
  const accepted = delta(`otelcol_receiver_accepted_${items}`);
  return {
    result,
    accepted,
    acceptedPerS: Math.round(accepted / seconds),
    cpuFraction: Number((cpu / (seconds + 3)).toFixed(2)),
    perCore: Math.round(accepted / cpu),
    refused: delta(`otelcol_receiver_refused_${items}`),
    failed:
      delta(`otelcol_exporter_send_failed_${items}`) + delta(`otelcol_exporter_enqueue_failed_${items}`),
    // only spans reach the tail samplers: traces an earlier step left behind are not this step's
    evictedEarly: signal === 'traces' ? delta(earlyEvictionSeries) : 0,
    rssGrowthMib: Number(rssGrowthMib.toFixed(1)),
  };
}

/** Spans from the replayer at one rate. */
async function spanStep(
  replay: Replayer,
  ports: Ports,
  collector: ChildProcess,
  rate: number,
): Promise<StepResult> {
  const observed = await observe(ports, collector, 'traces', () => replay.run(rate, STEP_S));
  const { result, ...figures } = observed;
  return {
    signal: 'traces',
    offered: rate,
    ...figures,
    replay: {
      acceptedSpansPerS: result.acceptedSpansPerS,
      rejectedRequests: result.rejectedRequests,
      statuses: result.statuses,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
    },
    clean:
      collector.exitCode === null &&
      result.rejectedRequests === 0 &&
      figures.accepted >= result.sentSpans &&
      result.acceptedSpansPerS >= rate * SUSTAINED_SHARE &&
      figures.refused === 0 &&
      figures.failed === 0 &&
      figures.evictedEarly === 0,
  };
}

/** Log records or data points from telemetrygen at one rate. */
async function telemetrygenStep(
  generator: string,
  ports: Ports,
  collector: ChildProcess,
  signal: Exclude<Signal, 'traces'>,
  rate: number,
): Promise<StepResult> {
  // telemetrygen's --rate is items per second per worker (log records; metrics of one data point
  // each); 0 is as fast as it goes
  const observed = await observe(ports, collector, signal, () =>
    execa(
      'taskset',
      [
        '-c',
        LOAD_CORE,
        generator,
        signal,
        '--otlp-endpoint',
        `127.0.0.1:${ports.otlpGrpc}`,
        '--otlp-insecure',
        '--rate',
        String(rate / WORKERS),
        '--workers',
        String(WORKERS),
        '--duration',
        `${STEP_S}s`,
      ],
      { reject: false, all: true },
    ),
  );
  const { result, ...figures } = observed;
  return {
    signal,
    offered: rate === 0 ? 'unthrottled' : rate,
    ...figures,
    clean:
      collector.exitCode === null && result.exitCode === 0 && figures.refused === 0 && figures.failed === 0,
  };
}

function report(label: string, result: StepResult) {
  const items = ITEMS[result.signal].replace('metric_points', 'data points').replace('_', ' ');
  const latency = result.replay ? `, Export p50 ${result.replay.p50Ms} ms p99 ${result.replay.p99Ms} ms` : '';
  const rejected = result.replay?.rejectedRequests
    ? `, ${result.replay.rejectedRequests} requests rejected ${JSON.stringify(result.replay.statuses)}`
    : '';
  console.error(
    `${label.padEnd(9)} ${result.signal.padEnd(7)} offered ${String(result.offered).padStart(11)}: accepted ${result.acceptedPerS} ${items}/s ` +
      `at ${Math.round(result.cpuFraction * 100)}% of its core -> ${result.perCore} ${items} per CPU second; ` +
      `refused ${result.refused}, failed ${result.failed}, evicted before the sampling decision ${result.evictedEarly}` +
      `${latency}${rejected}${result.clean ? '' : ' -> NOT sustained'}`,
  );
}

async function measure(
  label: string,
  binary: string,
  config: (ports: Ports) => unknown,
  generator: string | undefined,
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `otelkit-bench-${label}-`));
  const ports = await collectorPorts();
  const collector = await startPinned(binary, config(ports), dir);
  const idleRssMib = rssMib(collector.pid!, 'VmRSS');
  const results: StepResult[] = [];
  const replay = replayer(model, `127.0.0.1:${ports.otlpGrpc}`);
  try {
    for (const signal of SIGNALS)
      if (signal === 'traces') {
        for (const rate of SPAN_RATES) {
          const result = await spanStep(replay, ports, collector, rate);
          results.push(result);
          report(label, result);
          if (!result.clean) break;
        }
      } else {
        for (const rate of RATES) {
          const result = await telemetrygenStep(generator!, ports, collector, signal, rate);
          results.push(result);
          report(label, result);
        }
      }
    return { results, rssMib: rssMib(collector.pid!), idleRssMib };
  } finally {
    replay.close();
    collector.kill('SIGTERM');
    await new Promise((resolve) => collector.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

// The load generator and the stand-in backends share the other core; the Collector has its own.
await execa('taskset', ['-a', '-p', '-c', LOAD_CORE, String(process.pid)]);
const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-bench-collector-'));
// the spec as written, with its collector sized for the load the bench offers
const benchSpec = load(readFileSync(path.join(REPO, SPEC), 'utf8')) as Json;
delete benchSpec.collector?.memory_limit_mib;
benchSpec.collector = {
  ...benchSpec.collector,
  expected_load: {
    ...benchSpec.collector?.expected_load,
    spans_per_second: EXPECTED_SPANS,
    spans_per_trace: SPANS_PER_TRACE,
  },
};
const specFile = path.join(scratch, 'otelkit.yaml');
await writeFile(specFile, dump(benchSpec, { noRefs: true, lineWidth: -1 }));
const { model } = await loadSpec(specFile);
const files = render(generateArtifacts(model), SPEC);
const manifest = path.join(scratch, BUILDER_MANIFEST);
await mkdir(path.dirname(manifest), { recursive: true });
await writeFile(manifest, files.get(BUILDER_MANIFEST)!);
const binary = await collectorBinary(manifest);
const generator = SIGNALS.some((signal) => signal !== 'traces') ? await telemetrygen() : undefined;
const generated = load(files.get('stacks/collector/config.yaml')!) as Json;
const [, evictionMetric, evictionLe] = EARLY_EVICTIONS.exec(
  buildCatalogue(model).alerts.find((a) => a.rule.alert === 'CollectorTailSamplingEvicting')!.rule.expr,
)!;
const earlyEvictionSeries = `${evictionMetric}{le="${evictionLe}"}`;
const sink = await sinks();
try {
  const queueDir = path.join(scratch, 'queue');
  await mkdir(queueDir);
  const baseline = await measure('minimal', binary, (ports) => minimal(ports, sink), generator);
  const pipeline = await measure(
    'generated',
    binary,
    (ports) => generatedOnSinks(generated, ports, sink, queueDir),
    generator,
  );
  const spanSteps = (results: StepResult[]) => results.filter((r) => r.signal === 'traces');
  // the highest offered rate the pinned core kept up with, nothing refused, dropped or evicted
  const sustained = (results: StepResult[]) =>
    Math.max(
      0,
      ...spanSteps(results)
        .filter((r) => r.clean)
        .map((r) => r.offered as number),
    );
  // CPU cost per item where nothing was refused or dropped: what a fully used core carries
  const capacity = (results: StepResult[], signal: Signal = 'traces') =>
    Math.max(0, ...results.filter((r) => r.clean && r.signal === signal).map((r) => r.perCore));
  const sustainedSpans = sustained(pipeline.results);
  const minimalSustained = sustained(baseline.results);
  const perCpuSecond = capacity(pipeline.results);
  const minimalPerCpuSecond = capacity(baseline.results);
  const atSustained = spanSteps(pipeline.results).find((r) => r.clean && r.offered === sustainedSpans);
  const limitedBy = spanSteps(pipeline.results).find((r) => !r.clean);
  // what a log record and a data point cost against a span (generator/model/capacity.ts counts each as one)
  const others = Object.fromEntries(
    SIGNALS.filter((signal) => signal !== 'traces').map((signal) => [
      `${ITEMS[signal].replace('metric_points', 'data_points')}_per_s_per_core`,
      { generated: capacity(pipeline.results, signal), minimal: capacity(baseline.results, signal) },
    ]),
  );
  const sampler = generated.processors.tail_sampling as Json;
  // a trace waits decision_wait in a buffer of num_traces: past this rate traces are evicted undecided
  const samplerLimit = Math.round(
    (sampler.num_traces / parseSeconds(sampler.decision_wait)) * SPANS_PER_TRACE,
  );
  const firstSpans = spanSteps(pipeline.results)[0];
  const ladderTop = Math.max(...SPAN_RATES);
  console.log(
    `generated pipeline, sized for ${EXPECTED_SPANS} spans/s: sustained ${sustainedSpans} spans/s on one core` +
      `${sustainedSpans === ladderTop ? ' (the top of the ladder)' : ''}, ${perCpuSecond} spans per CPU second ` +
      `(minimal otlp->otlp: ${minimalSustained} sustained, ${minimalPerCpuSecond} per CPU second; ratio ${(perCpuSecond / minimalPerCpuSecond).toFixed(2)}); ` +
      `p99 Export ${atSustained?.replay?.p99Ms ?? '-'} ms at that rate; peak RSS ${pipeline.rssMib.toFixed(0)} MiB; ` +
      `the tail samplers' buffer holds ${samplerLimit} spans/s (num_traces / decision_wait, ${SPANS_PER_TRACE}-span traces)`,
  );
  console.log(
    JSON.stringify({
      bench: 'collector',
      spans_per_s_per_core: sustainedSpans,
      refused: limitedBy?.refused ?? 0,
      dropped: (limitedBy?.failed ?? 0) + (limitedBy?.evictedEarly ?? 0),
      // CPU cost against the minimal pipeline's: the ladder may end before the minimal one saturates
      ratio_vs_minimal: Number((perCpuSecond / minimalPerCpuSecond).toFixed(2)),
      spans_per_cpu_s: perCpuSecond,
      minimal_spans_per_s_per_core: minimalSustained,
      minimal_spans_per_cpu_s: minimalPerCpuSecond,
      p99_export_ms: atSustained?.replay?.p99Ms,
      sized_for_spans_per_s: EXPECTED_SPANS,
      memory_limit_mib: model.collector.memoryLimitMib,
      peak_rss_mib: Math.round(pipeline.rssMib),
      idle_rss_mib: Math.round(pipeline.idleRssMib),
      // resident bytes per span the tail samplers hold: the first spans step's growth over its spans
      // (the decision wait outlasts a step; capacity.ts states SPAN_HEAP_BYTES)
      held_span_bytes: firstSpans
        ? Math.round((firstSpans.rssGrowthMib * 2 ** 20) / firstSpans.accepted)
        : undefined,
      tail_sampling_buffer_spans_per_s: samplerLimit,
      limited_by: limitedBy ?? (sustainedSpans === ladderTop ? 'the top of the ladder' : undefined),
      ...others,
      steps: pipeline.results,
      minimal_steps: baseline.results,
      step_s: STEP_S,
    }),
  );
} finally {
  await sink.close();
  await rm(scratch, { recursive: true, force: true });
}
