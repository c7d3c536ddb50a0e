/**
 * The real Collector, Prometheus and Loki as processes on loopback ports, each in a directory of
 * its own and stopped by the test that started it. The Collector comes from the OCB manifest the
 * generator writes (scripts/build-collector.sh, cached); Prometheus and Loki from
 * scripts/build-backends.sh (cached by version), found the way `otelkit validate` finds them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dump } from 'js-yaml';
import { findTool } from '../../generator/validate/tools.ts';
import { freePort, tempDir } from './helpers.ts';

const STARTUP_MS = 60_000;

export interface Proc {
  /** Everything the process printed so far. */
  output(): string;
  exited(): boolean;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function watch(child: ChildProcess, name: string, ready: RegExp): Promise<Proc> {
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const proc: Proc = {
    output: () => output,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop(signal = 'SIGTERM') {
      if (proc.exited()) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(timer);
    },
  };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (ready.test(output)) {
        clearInterval(poll);
        resolve(proc);
      } else if (proc.exited() || Date.now() - started > STARTUP_MS) {
        clearInterval(poll);
        void proc.stop('SIGKILL');
        reject(new Error(`${name} did not start:\n${output.slice(-4000)}`));
      }
    }, 100);
  });
}

/** Starts a Collector on a config object (already `$$`-escaped, as the target emits it). */
export async function startCollector(binary: string, config: unknown, label: string): Promise<Proc> {
  const dir = await tempDir(`otelcol-${label}`);
  const file = path.join(dir, 'config.yaml');
  await writeFile(file, dump(config, { noRefs: true, lineWidth: -1 }));
  const child = spawn(binary, [`--config=file:${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  return watch(child, `Collector ${label}`, /Everything is ready/);
}

export interface CollectorPorts {
  otlpGrpc: number;
  otlpHttp: number;
  health: number;
  metrics: number;
}

export async function collectorPorts(): Promise<CollectorPorts> {
  return {
    otlpGrpc: await freePort(),
    otlpHttp: await freePort(),
    health: await freePort(),
    metrics: await freePort(),
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The generated config with every listener moved to loopback ports, the queue in its own
 * directory and each exporter sent where the test says; nothing else changes.
 */
export function onLoopback(
  config: unknown,
  options: { ports: CollectorPorts; queueDir: string; exporters: Record<string, (exporter: Json) => void> },
): Json {
  const copy = JSON.parse(JSON.stringify(config)) as Json;
  const { ports } = options;
  copy.receivers.otlp.protocols.grpc.endpoint = `127.0.0.1:${ports.otlpGrpc}`;
  copy.receivers.otlp.protocols.http.endpoint = `127.0.0.1:${ports.otlpHttp}`;
  copy.extensions.health_check.endpoint = `127.0.0.1:${ports.health}`;
  const storage = copy.extensions['file_storage/queue'];
  if (storage) {
    storage.directory = options.queueDir;
    storage.compaction.directory = options.queueDir;
  }
  copy.service.telemetry.metrics.readers[0].pull.exporter.prometheus = {
    host: '127.0.0.1',
    port: ports.metrics,
  };
  for (const [id, rewrite] of Object.entries(options.exporters)) {
    if (!copy.exporters[id]) throw new Error(`no exporter ${id} in the generated config`);
    rewrite(copy.exporters[id]);
  }
  return copy;
}

/** A loopback address nothing listens on: exports there fail and are retried, as in an outage. */
export async function deadEndpoint() {
  return `127.0.0.1:${await freePort()}`;
}

async function requireTool(tool: 'prometheus' | 'loki') {
  const binary = await findTool(tool, process.env);
  if (!binary) throw new Error(`no ${tool} binary: run scripts/build-backends.sh ${tool}`);
  return binary;
}

export interface Prometheus extends Proc {
  url: string;
  /** An instant query at `time` (Unix seconds; now if omitted). */
  query(expr: string, time?: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

/** Prometheus with the OTLP and remote-write receivers, the given config (scrape jobs dropped) and rule files. */
export async function startPrometheus(
  config: Json,
  rules: { name: string; content: unknown }[],
): Promise<Prometheus> {
  const binary = await requireTool('prometheus');
  const dir = await tempDir('prometheus');
  const ruleFiles: string[] = [];
  for (const rule of rules) {
    const file = path.join(dir, rule.name);
    await writeFile(file, dump(rule.content, { noRefs: true, lineWidth: -1 }));
    ruleFiles.push(file);
  }
  const own: Json = { ...config, rule_files: ruleFiles, scrape_configs: [] };
  delete own.alerting;
  await writeFile(path.join(dir, 'prometheus.yml'), dump(own, { noRefs: true, lineWidth: -1 }));
  const port = await freePort();
  const child = spawn(
    binary,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-otlp-receiver',
      '--web.enable-remote-write-receiver',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = await watch(child, 'Prometheus', /Server is ready to receive web requests/);
  const url = `http://127.0.0.1:${port}`;
  return {
    ...proc,
    url,
    async query(expr, time) {
      const params = new URLSearchParams({ query: expr });
      if (time !== undefined) params.set('time', String(time));
      const response = await fetch(`${url}/api/v1/query?${params}`);
      const body = (await response.json()) as { status: string; error?: string; data: { result: never[] } };
      if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
      return body.data.result;
    },
  };
}

export interface Loki extends Proc {
  url: string;
}

/** Loki on the generated config, with its storage in a directory of its own. */
export async function startLoki(config: Json): Promise<Loki> {
  const binary = await requireTool('loki');
  const dir = await tempDir('loki');
  const port = await freePort();
  const own = JSON.parse(JSON.stringify(config)) as Json;
  own.server = {
    ...own.server,
    http_listen_address: '127.0.0.1',
    http_listen_port: port,
    grpc_listen_port: await freePort(),
  };
  own.common.path_prefix = dir;
  own.common.storage.filesystem = { chunks_directory: `${dir}/chunks`, rules_directory: `${dir}/rules` };
  own.compactor.working_directory = `${dir}/compactor`;
  const file = path.join(dir, 'loki.yaml');
  await writeFile(file, dump(own, { noRefs: true, lineWidth: -1 }));
  const child = spawn(binary, [`-config.file=${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = `http://127.0.0.1:${port}`;
  const proc = await watch(child, 'Loki', /Loki started|starting Loki/i);
  for (let i = 0; i < 120; i++) {
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { ...proc, url };
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await proc.stop();
  throw new Error(`Loki did not become ready:\n${proc.output().slice(-3000)}`);
}

/** Polls until `check` returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface SeenSpan {
  traceId: string;
  spanId: string;
  name: string;
  attributes: Record<string, string>;
}

export interface Sink extends Proc {
  /** host:port of its OTLP/gRPC receiver. */
  endpoint: string;
  spans(): SeenSpan[];
}

/**
 * A Collector that only receives OTLP/gRPC and prints every span (the debug exporter's detailed
 * output), standing in for Tempo where a test needs to see exactly which spans were exported.
 */
export async function startSink(binary: string): Promise<Sink> {
  const port = await freePort();
  const config = {
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${port}` } } } },
    exporters: { debug: { verbosity: 'detailed' } },
    service: {
      telemetry: { metrics: { level: 'none' } },
      pipelines: { traces: { receivers: ['otlp'], exporters: ['debug'] } },
    },
  };
  const proc = await startCollector(binary, config, 'sink');
  return {
    ...proc,
    endpoint: `127.0.0.1:${port}`,
    spans() {
      return proc
        .output()
        .split(/\nSpan #\d+\n/)
        .slice(1)
        .map((text) => text.split(/\n\S*(?:ResourceSpans|ScopeSpans) #/)[0]!)
        .map((block) => {
          const field = (name: string) =>
            new RegExp(`^\\s+${name}\\s*: (.*)$`, 'm').exec(block)?.[1]?.trim() ?? '';
          const attributes: Record<string, string> = {};
          for (const [, key, value] of block.matchAll(/^\s+-> ([^:]+): \w+\((.*)\)$/gm))
            attributes[key!] = value!;
          return { traceId: field('Trace ID'), spanId: field('ID'), name: field('Name'), attributes };
        });
    },
  };
}

export interface Tempo extends Proc {
  /** host:port of its OTLP/gRPC receiver. */
  endpoint: string;
}

/** Tempo on the generated config, on loopback ports, remote-writing its generated metrics to `prometheusUrl`. */
export async function startTempo(config: Json, prometheusUrl: string): Promise<Tempo> {
  const binary = await findTool('tempo', process.env);
  if (!binary) throw new Error('no tempo binary: run scripts/build-backends.sh tempo');
  const dir = await tempDir('tempo');
  const own = JSON.parse(JSON.stringify(config)) as Json;
  const grpc = await freePort();
  own.server = {
    ...own.server,
    http_listen_address: '127.0.0.1',
    http_listen_port: await freePort(),
    grpc_listen_address: '127.0.0.1',
    grpc_listen_port: await freePort(),
  };
  own.distributor.receivers.otlp.protocols = { grpc: { endpoint: `127.0.0.1:${grpc}` } };
  own.storage.trace.local.path = `${dir}/traces`;
  own.storage.trace.wal.path = `${dir}/wal`;
  own.metrics_generator.storage.path = `${dir}/generator/wal`;
  own.metrics_generator.storage.remote_write = [
    { url: `${prometheusUrl}/api/v1/write`, send_exemplars: true },
  ];
  own.metrics_generator.traces_storage.path = `${dir}/generator/traces`;
  own.memberlist = { bind_addr: ['127.0.0.1'], bind_port: await freePort() };
  const file = path.join(dir, 'tempo.yaml');
  await writeFile(file, dump(own, { noRefs: true, lineWidth: -1 }));
  const child = spawn(binary, [`-config.file=${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = await watch(child, 'Tempo', /Tempo started/);
  return { ...proc, endpoint: `127.0.0.1:${grpc}` };
}
