/**
 * `npm run bench:collector`: the Collector built from the generated OCB manifest, running the
 * generated config (traces path: memory limiter, resource detection, route transform, redaction,
 * span metrics, both tail samplers), pinned to one core with taskset, driven by telemetrygen at
 * rising rates into stand-in OTLP receivers on the other core. A rate is sustained when every span
 * sent is accepted, none is refused (memory limiter), none fails to enqueue or export, and the tail
 * samplers evict no trace before deciding on it. The same binary on a minimal otlp -> otlp pipeline is
 * measured in the same run, so the ratio shows what the generated pipeline costs. With
 * BENCH_SIGNALS=traces,logs,metrics it drives logs and metrics through both configs as well, for
 * what a log record and a data point cost against a span (generator/model/capacity.ts reads these
 * figures, and held_span_bytes, the resident memory a span costs while the tail samplers hold it).
 * Not a test: the last stdout line is one JSON object.
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
import { freePort } from '../test/support/helpers.ts';
import { collectorPorts, onLoopback, type CollectorPorts } from '../test/support/processes.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SPEC = process.env.BENCH_SPEC ?? 'examples/shop/otelkit.yaml';
const STEP_S = Number(process.env.BENCH_STEP_S ?? 10);
/** Offered loads in items/s; 0 is telemetrygen unthrottled (as fast as its core and the Collector go). */
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
/** telemetrygen's traces have a root and this many children */
const CHILD_SPANS = 1;
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
  /** accepted items per CPU second of the Collector: its capacity on one core */
  perCore: number;
  refused: number;
  failed: number;
  evictedEarly: number;
  /** Resident memory the step added: for traces, the spans the tail samplers still hold at its end. */
  rssGrowthMib: number;
  clean: boolean;
}

async function step(
  generator: string,
  ports: Ports,
  collector: ChildProcess,
  signal: Signal,
  rate: number,
): Promise<StepResult> {
  const before = await counters(ports.metrics);
  const cpuBefore = cpuSeconds(collector.pid!);
  const rssBefore = rssMib(collector.pid!, 'VmRSS');
  const started = performance.now();
  // telemetrygen's --rate is items per second per worker (spans, root and children alike; log
  // records; metrics of one data point each); 0 is as fast as it goes
  const run = await execa(
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
      ...(signal === 'traces' ? ['--child-spans', String(CHILD_SPANS)] : []),
      '--duration',
      `${STEP_S}s`,
    ],
    { reject: false, all: true },
  );
  const seconds = (performance.now() - started) / 1000;
  // the exporters and tail samplers finish what they hold before the counters are read
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const cpu = cpuSeconds(collector.pid!) - cpuBefore;
  // read before the decision wait ends: every span of the step is still held
  const rssGrowthMib = rssMib(collector.pid!, 'VmRSS') - rssBefore;
  const after = await counters(ports.metrics);
  const delta = (name: string) => get(after, name) - get(before, name);
  const items = ITEMS[signal];
  const accepted = delta(`otelcol_receiver_accepted_${items}`);
  const refused = delta(`otelcol_receiver_refused_${items}`);
  const failed =
    delta(`otelcol_exporter_send_failed_${items}`) + delta(`otelcol_exporter_enqueue_failed_${items}`);
  // only spans reach the tail samplers: traces an earlier step left behind are not this step's
  const evictedEarly =
    signal === 'traces' ? get(after, earlyEvictionSeries) - get(before, earlyEvictionSeries) : 0;
  return {
    signal,
    offered: rate === 0 ? 'unthrottled' : rate,
    accepted,
    acceptedPerS: Math.round(accepted / seconds),
    cpuFraction: Number((cpu / (seconds + 3)).toFixed(2)),
    perCore: Math.round(accepted / cpu),
    refused,
    failed,
    evictedEarly,
    rssGrowthMib: Number(rssGrowthMib.toFixed(1)),
    clean:
      collector.exitCode === null &&
      run.exitCode === 0 &&
      refused === 0 &&
      failed === 0 &&
      evictedEarly === 0,
  };
}

async function measure(label: string, binary: string, config: (ports: Ports) => unknown, generator: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `otelkit-bench-${label}-`));
  const ports = await collectorPorts();
  const collector = await startPinned(binary, config(ports), dir);
  const idleRssMib = rssMib(collector.pid!, 'VmRSS');
  const results: StepResult[] = [];
  try {
    for (const signal of SIGNALS)
      for (const rate of RATES) {
        const result = await step(generator, ports, collector, signal, rate);
        results.push(result);
        const items = ITEMS[signal].replace('metric_points', 'data points').replace('_', ' ');
        console.error(
          `${label.padEnd(9)} ${signal.padEnd(7)} offered ${String(result.offered).padStart(11)}: accepted ${result.acceptedPerS} ${items}/s ` +
            `at ${Math.round(result.cpuFraction * 100)}% of its core -> ${result.perCore} ${items} per CPU second; ` +
            `refused ${result.refused}, failed ${result.failed}, evicted before the sampling decision ${result.evictedEarly}`,
        );
      }
    return { results, rssMib: rssMib(collector.pid!), idleRssMib };
  } finally {
    collector.kill('SIGTERM');
    await new Promise((resolve) => collector.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

const { model } = await loadSpec(path.join(REPO, SPEC));
const files = render(generateArtifacts(model), SPEC);
const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-bench-collector-'));
const manifest = path.join(scratch, BUILDER_MANIFEST);
await mkdir(path.dirname(manifest), { recursive: true });
await writeFile(manifest, files.get(BUILDER_MANIFEST)!);
const [binary, generator] = [await collectorBinary(manifest), await telemetrygen()];
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
  // capacity per core: CPU cost per span measured where nothing was refused or dropped
  const capacity = (results: StepResult[], signal: Signal = 'traces') =>
    Math.max(0, ...results.filter((r) => r.clean && r.signal === signal).map((r) => r.perCore));
  const perCore = capacity(pipeline.results);
  const minimalPerCore = capacity(baseline.results);
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
    (sampler.num_traces / parseSeconds(sampler.decision_wait)) * (CHILD_SPANS + 1),
  );
  const unclean = pipeline.results.find((r) => !r.clean);
  function heldSpanBytes(results: StepResult[]) {
    const first = results.find((r) => r.signal === 'traces');
    return first ? Math.round((first.rssGrowthMib * 2 ** 20) / first.accepted) : undefined;
  }
  console.log(
    `generated pipeline: ${perCore} spans/s per core (minimal otlp->otlp: ${minimalPerCore}, ratio ${(perCore / minimalPerCore).toFixed(2)}); ` +
      `peak RSS ${pipeline.rssMib.toFixed(0)} MiB; the tail samplers' buffer holds ${samplerLimit} spans/s ` +
      `(num_traces / decision_wait, ${CHILD_SPANS + 1}-span traces)`,
  );
  console.log(
    JSON.stringify({
      bench: 'collector',
      spans_per_s_per_core: perCore,
      refused: unclean?.refused ?? 0,
      dropped: (unclean?.failed ?? 0) + (unclean?.evictedEarly ?? 0),
      ratio_vs_minimal: Number((perCore / minimalPerCore).toFixed(2)),
      minimal_spans_per_s_per_core: minimalPerCore,
      peak_rss_mib: Math.round(pipeline.rssMib),
      idle_rss_mib: Math.round(pipeline.idleRssMib),
      // resident bytes per span the tail samplers hold: the first traces step's growth over its spans
      // (the decision wait outlasts a step; capacity.ts states SPAN_HEAP_BYTES)
      held_span_bytes: heldSpanBytes(pipeline.results),
      tail_sampling_buffer_spans_per_s: samplerLimit,
      ...others,
      steps: pipeline.results,
      step_s: STEP_S,
    }),
  );
} finally {
  await sink.close();
  await rm(scratch, { recursive: true, force: true });
}
