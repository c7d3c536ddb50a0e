/**
 * `npm run bench:preload`: one Express app run bare, under the otelkit preload and under the stock
 * auto-instrumentations register, alternating so drift on a shared machine hits all three alike.
 * Everything stays on loopback; the stock register's resource detectors are limited so it never
 * probes cloud metadata addresses. Not a test: it prints figures and the targets beside them.
 *
 * Two routes: `/orders/:id` answers at once, so the figures are the preload's cost per request at
 * its most visible; `/realistic/:id` does about 1 ms of work and one query to a real PostgreSQL
 * (started here on loopback, through pg, which the preload instruments), as a serving handler does,
 * where the same cost should be a few percent.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { BUILTIN_BLOCKED_KEYS, BUILTIN_VALUE_PATTERNS, type Model } from '../generator/model/model.ts';
import { preloadTarget } from '../generator/targets/preload.ts';
import { freePort } from '../test/support/helpers.ts';
import { startPostgres } from '../test/support/servers.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
/** Load before measuring, so each process is measured warm (JIT-compiled), as a serving app runs. */
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 1);
const CONNECTIONS = 32;
/**
 * The stand-in Collector's behaviour: `ok` (200), `down` (nothing listens), `hanging` (reads the
 * export, never answers), `503` or `429`; the last four measure the preload under backpressure.
 */
const COLLECTOR = (process.env.BENCH_COLLECTOR ?? 'ok') as 'ok' | 'down' | 'hanging' | '503' | '429';
/** Requests per second for the whole run (autocannon's overallRate); unset is as fast as it goes. */
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;

const APP = `
const express = require('express');
const { Pool } = require('pg');
const pool = new Pool({ host: '127.0.0.1', port: Number(process.env.PGPORT), user: 'otelkit', database: 'postgres', max: 8 });
const app = express();
app.use(express.json());
app.get('/orders/:id', (req, res) => {
  res.json({ id: req.params.id, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }], total: 42.5 });
});
app.get('/realistic/:id', async (req, res, next) => {
  try {
    const until = performance.now() + 1;
    let spin = 0;
    while (performance.now() < until) spin++;
    const { rows } = await pool.query('SELECT $1::int AS id, now() AS at', [Number(req.params.id)]);
    res.json({ id: rows[0].id, at: rows[0].at, spin: spin > 0 });
  } catch (error) {
    next(error);
  }
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
`;

type Mode = 'bare' | 'otelkit' | 'stock';
type Route = 'hello' | 'realistic';
const ROUTE_PATH: Record<Route, string> = { hello: '/orders/42', realistic: '/realistic/42' };
interface Sample {
  rps: number;
  p99: number;
  startupMs: number;
  rssMiB: number;
}

const SINK = `
const mode = process.argv[1];
const server = require('node:http').createServer((req, res) => {
  req.resume();
  if (mode === 'hanging') return;
  const status = mode === 'ok' ? 200 : Number(mode);
  req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/**
 * Stands in for the Collector so exporters do real work; answers every export with 200. A process
 * of its own, as a Collector is: in the bench's process it would steal autocannon's event loop and
 * make export volume look like app overhead.
 */
async function sink() {
  if (COLLECTOR === 'down') return { url: `http://127.0.0.1:${await freePort()}`, close: () => undefined };
  const child = spawn(process.execPath, ['-e', SINK, COLLECTOR], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`sink exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => child.kill('SIGKILL') };
}

async function prepare() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'otelkit-bench-'));
  await mkdir(path.join(dir, 'node_modules', '@opentelemetry'), { recursive: true });
  await symlink(REPO, path.join(dir, 'node_modules', 'otelkit'));
  for (const module of ['express', 'pg'])
    await symlink(path.join(REPO, 'node_modules', module), path.join(dir, 'node_modules', module));
  await symlink(
    path.join(REPO, 'node_modules', '@opentelemetry', 'auto-instrumentations-node'),
    path.join(dir, 'node_modules', '@opentelemetry', 'auto-instrumentations-node'),
  );
  await writeFile(path.join(dir, 'package.json'), '{"name":"bench-app","private":true}');
  await writeFile(path.join(dir, 'app.cjs'), APP);
  await mkdir(path.join(dir, 'preload'));
  const model = {
    project: 'bench',
    environment: 'bench',
    services: [
      {
        name: 'bench',
        runtime: 'node',
        module: 'commonjs',
        frontends: ['web'],
        routes: ['/orders/{id}', '/realistic/{id}'],
        dependencies: [],
      },
    ],
    redaction: {
      blockedKeys: [...BUILTIN_BLOCKED_KEYS],
      valuePatterns: Object.entries(BUILTIN_VALUE_PATTERNS).map(([name, regex]) => ({ name, regex })),
    },
    signals: {
      logs: { level: 'info' },
      metrics: { histogramBucketsMs: [5, 50, 500], maxRoutesPerService: 100 },
    },
  } as unknown as Model;
  for (const artifact of preloadTarget.generate(model)) {
    if (artifact.format === 'text') await writeFile(path.join(dir, artifact.path), artifact.content);
  }
  return dir;
}

async function waitUntilServing(port: number, started: number) {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/orders/1' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function peakRssMiB(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function run(
  mode: Mode,
  route: Route,
  dir: string,
  collector: string,
  pgPort: number,
): Promise<Sample> {
  const port = await freePort();
  const flags =
    mode === 'otelkit'
      ? ['--require', './preload/bench.cjs']
      : mode === 'stock'
        ? ['--require', '@opentelemetry/auto-instrumentations-node/register']
        : [];
  const env = {
    PATH: process.env.PATH,
    PORT: String(port),
    PGPORT: String(pgPort),
    OTEL_EXPORTER_OTLP_ENDPOINT: collector,
    OTEL_SERVICE_NAME: 'bench',
    // keep the stock register off cloud metadata addresses
    OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
    OTEL_METRIC_EXPORT_INTERVAL: '5000',
  };
  const started = performance.now();
  const child = spawn(process.execPath, [...flags, 'app.cjs'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const startupMs = await waitUntilServing(port, started);
    if (WARMUP_S > 0) {
      await autocannon({
        url: `http://127.0.0.1:${port}${ROUTE_PATH[route]}`,
        connections: CONNECTIONS,
        duration: WARMUP_S,
        headers: { 'x-frontend-id': 'web' },
      });
    }
    const result = await autocannon({
      url: `http://127.0.0.1:${port}${ROUTE_PATH[route]}`,
      connections: CONNECTIONS,
      duration: DURATION_S,
      headers: { 'x-frontend-id': 'web' },
      ...(RATE ? { overallRate: RATE } : {}),
    });
    return {
      rps: result.requests.average,
      p99: result.latency.p99,
      startupMs,
      rssMiB: await peakRssMiB(child.pid!),
    };
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const collector = await sink();
  const postgres = await startPostgres();
  const dir = await prepare();
  const samples: Record<Mode, Sample[]> = { bare: [], otelkit: [], stock: [] };
  const realistic: Record<'bare' | 'otelkit', Sample[]> = { bare: [], otelkit: [] };
  try {
    // PostgreSQL's first queries (connections, catalogue caches) are slower than the rest; one
    // unmeasured run keeps that out of the first round's bare figure
    await run('bare', 'realistic', dir, collector.url, postgres.port);
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['bare', 'otelkit', 'stock'] as const) {
        const sample = await run(mode, 'hello', dir, collector.url, postgres.port);
        samples[mode].push(sample);
        console.log(
          `round ${round + 1} ${mode.padEnd(7)} ${sample.rps.toFixed(0).padStart(6)} req/s  p99 ${sample.p99} ms  start-up ${sample.startupMs.toFixed(0)} ms  peak RSS ${sample.rssMiB.toFixed(1)} MiB`,
        );
      }
      for (const mode of ['bare', 'otelkit'] as const) {
        const sample = await run(mode, 'realistic', dir, collector.url, postgres.port);
        realistic[mode].push(sample);
        console.log(
          `round ${round + 1} ${mode.padEnd(7)} realistic ${sample.rps.toFixed(0).padStart(6)} req/s  p99 ${sample.p99} ms`,
        );
      }
    }
  } finally {
    collector.close();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const summary = Object.fromEntries(
    (Object.keys(samples) as Mode[]).map((mode) => [
      mode,
      {
        rps: median(samples[mode].map((s) => s.rps)),
        p99: median(samples[mode].map((s) => s.p99)),
        startupMs: median(samples[mode].map((s) => s.startupMs)),
        rssMiB: median(samples[mode].map((s) => s.rssMiB)),
      },
    ]),
  ) as Record<Mode, Sample>;
  console.log('\nmedians');
  for (const [mode, s] of Object.entries(summary)) {
    console.log(
      `${mode.padEnd(7)} ${s.rps.toFixed(0).padStart(6)} req/s  p99 ${s.p99} ms  start-up ${s.startupMs.toFixed(0)} ms  peak RSS ${s.rssMiB.toFixed(1)} MiB`,
    );
  }
  // Ratios are taken within each round, between runs seconds apart, and their median reported:
  // on a shared machine the speed drifts between rounds more than it does within one.
  const perRound = (
    mode: Mode,
    of: (s: Sample) => number,
    combine: (a: number, b: number) => number,
    base: Mode = 'bare',
  ) => samples[mode].map((sample, round) => combine(of(sample), of(samples[base][round]!)));
  const ratio = (a: number, b: number) => a / b;
  const difference = (a: number, b: number) => a - b;
  const figure = (values: number[], digits: number) =>
    `${median(values).toFixed(digits)} (${values.map((v) => v.toFixed(digits)).join(' ')})`;
  const rps = (s: Sample) => s.rps;
  const startup = (s: Sample) => s.startupMs / 1000;
  const rss = (s: Sample) => s.rssMiB;
  console.log('\nratios: median of the per-round figures (each round in parentheses); targets in brackets');
  console.log(`throughput otelkit/bare   ${figure(perRound('otelkit', rps, ratio), 2)}  [>= 0.6x]`);
  console.log(`throughput otelkit/stock  ${figure(perRound('otelkit', rps, ratio, 'stock'), 2)}  [>= 3x]`);
  console.log(
    `start-up overhead s       ${figure(perRound('otelkit', startup, difference), 3)}  [<= 0.15 s]  stock ${median(perRound('stock', startup, difference)).toFixed(3)} s`,
  );
  console.log(
    `peak RSS overhead MiB     ${figure(perRound('otelkit', rss, difference), 1)}  [<= 20 MiB]  stock ${median(perRound('stock', rss, difference)).toFixed(1)} MiB`,
  );
  const realisticRound = (of: (s: Sample) => number, combine: (a: number, b: number) => number) =>
    realistic.otelkit.map((sample, round) => combine(of(sample), of(realistic.bare[round]!)));
  const p99 = (s: Sample) => s.p99;
  console.log('\nrealistic route: about 1 ms of work and one PostgreSQL query per request');
  console.log(`throughput otelkit/bare   ${figure(realisticRound(rps, ratio), 3)}  [>= 0.95x]`);
  console.log(`p99 delta ms              ${figure(realisticRound(p99, difference), 1)}`);
}

await main();
