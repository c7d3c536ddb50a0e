/**
 * `npm run bench:rules`: what the SLO rules cost a real Prometheus (the kit's pinned build) holding
 * 30 days of span metrics, with long windows read from the raw series (the rules before
 * pre-aggregation, built from the same model: buildCatalogue's `sloWindows: 'raw'`) against long
 * windows summed from the pre-aggregated 5m rates (what otelkit generates).
 *
 * The data: a spec of BENCH_SERVICES services with BENCH_ROUTES routes each, every service with an
 * availability and a latency SLO over 30 days, scraped every minute. Its span metrics are synthetic
 * counters, exact integrals of a traffic model: a daily cycle, routes of uneven traffic (1/rank),
 * a small baseline of failures and slow requests, and a few incidents (a fast burn, a slow burn, a
 * latency burn, one that has ended). The same functions write 30 days of OpenMetrics for `promtool
 * tsdb create-blocks-from openmetrics` and serve /metrics on loopback, which Prometheus scrapes from
 * then on, so the data run on to the moment the rules are evaluated. The base 5m rates' own 30 days
 * are backfilled by `promtool tsdb create-blocks-from rules` from the generated base rules against
 * the same Prometheus: the engine computing the rules' own expressions, which is what evaluating
 * them live would have recorded (a copy computed here could only approximate rate()). The backfill
 * ends when the bench starts and the scrapes begin once Prometheus is up: the minutes of the import
 * are a gap in the data, the same for both rule sets (the incidents run on through it).
 *
 * Then each rule set is loaded in turn (preaggregated first, so the base rates it reads never
 * stop being recorded) and BENCH_EVALUATIONS evaluations of every SLO group are read from
 * /api/v1/rules: evaluation time, and the state of every alert. eval_ms is the median over the
 * evaluations of the summed evaluation time of the SLO groups; both rule sets must leave the same
 * alerts pending and firing after each evaluation. Not a test: the last stdout line is one JSON object.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { dump } from 'js-yaml';
import { buildCatalogue, type RuleFile } from '../generator/alerting/catalogue.ts';
import { SPAN_METRICS } from '../generator/model/conventions.ts';
import type { Model, ServiceModel } from '../generator/model/model.ts';
import { ERROR_STATUS, requestSpanKind } from '../generator/model/promql.ts';
import { RULE } from '../generator/model/rule-names.ts';
import { baseWindowMs } from '../generator/model/slo.ts';
import { loadSpec } from '../generator/spec/load.ts';
import { ruleFileContent } from '../generator/targets/alert-rules.ts';
import { runScript } from '../generator/tools/scripts.ts';
import { freePort } from '../test/support/helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SERVICES = Number(process.env.BENCH_SERVICES ?? 10);
const ROUTES = Number(process.env.BENCH_ROUTES ?? 50);
const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const EVALUATIONS = Number(process.env.BENCH_EVALUATIONS ?? 3);
/**
 * `slo` writes the histogram series the SLO rules read (the threshold bucket, +Inf and _count);
 * `all` every bucket of the generated config and _sum too: a bigger TSDB, the same rule work.
 */
const BUCKETS = (process.env.BENCH_BUCKETS ?? 'slo') as 'slo' | 'all';
const SCRAPE = '1m';
const SCRAPE_MS = 60_000;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** The target: the pre-aggregated rules evaluate at least this many times faster. */
const TARGET_RATIO = 10;

const log = (line: string) =>
  console.error(`[bench:rules ${new Date().toISOString().slice(11, 19)}] ${line}`);

// ---------------------------------------------------------------------------------------------
// The spec and its two rule sets

function specText(): string {
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const services = Array.from({ length: SERVICES }, (_, s) => ({
    name: `svc-${pad(s, 2)}`,
    runtime: 'node',
    team: `team-${s % 4}`,
    routes: Array.from({ length: ROUTES }, (_, r) => `/r${pad(r, 3)}/{id}`),
    slos: [
      { name: 'availability', kind: 'availability', objective: 99.9, period: '30d' },
      { name: 'latency', kind: 'latency', objective: 99, threshold: '500ms', period: '30d' },
    ],
  }));
  return dump(
    {
      version: 1,
      project: 'bench-rules',
      signals: { metrics: { scrape_interval: SCRAPE, cardinality: { max_routes_per_service: ROUTES } } },
      services,
      alerting: {
        default_receiver: 'hook',
        receivers: [{ name: 'hook', type: 'webhook', url: 'http://host.docker.internal:9095/' }],
      },
    },
    { lineWidth: -1 },
  );
}

const sloFiles = (model: Model, sloWindows: 'raw' | 'preaggregated') =>
  buildCatalogue(model, { sloWindows }).files.filter((f) => f.file.startsWith('slo-'));

/** The base rates alone, in their groups: what is backfilled, and recorded while the data are prepared. */
function baseRuleFile(file: RuleFile, baseMs: number): RuleFile {
  const base = new Set<string>([RULE.sloErrors(baseMs), RULE.sloRequests(baseMs)]);
  return { ...file, recording: file.recording.filter((r) => base.has(r.record)), alerts: [] };
}

async function writeRules(dir: string, files: RuleFile[]) {
  await mkdir(dir, { recursive: true });
  for (const file of files)
    await writeFile(path.join(dir, `${file.file}.rules.yml`), dump(ruleFileContent(file), { lineWidth: -1 }));
}

// ---------------------------------------------------------------------------------------------
// The traffic model: counters as exact integrals, so backfill and live scrapes agree

interface Incident {
  service: number;
  slo: 'availability' | 'latency';
  /** Share of requests failing (availability) or slower than the threshold (latency) on top of the baseline. */
  extra: number;
  /** Relative to the end of the backfill; `to` undefined: still going on. */
  fromMs: number;
  toMs?: number;
}

const REQUESTS_PER_S = 20;
const DAILY_SWING = 0.4;
const BASELINE = { availability: 0.0003, latency: 0.003 };
const INCIDENTS: Incident[] = [
  // a fast burn for the last 90 minutes: the 1h and 6h pages
  { service: 0, slo: 'availability', extra: 0.03, fromMs: -90 * MINUTE_MS },
  // a slow burn for four days at 1.5x: the 3d ticket
  { service: 1, slo: 'availability', extra: 0.0012, fromMs: -4 * DAY_MS },
  // slow requests for the last 12 hours: the 6h page and the 1d ticket of the latency SLO
  { service: 2, slo: 'latency', extra: 0.1, fromMs: -12 * 3_600_000 },
  // an hour of failures that ended three hours ago: long windows still high, short ones empty, silent
  { service: 3, slo: 'availability', extra: 0.05, fromMs: -4 * 3_600_000, toMs: -3 * 3_600_000 },
];

class Traffic {
  readonly startMs: number;
  readonly endMs: number;
  constructor(endMs: number) {
    this.endMs = endMs;
    this.startMs = endMs - DAYS * DAY_MS;
  }
  /** Requests of one service since the start (all routes): ∫ rate·(1 + swing·sin(2πt/day)). */
  requests(t: number): number {
    const phase = (x: number) => Math.cos((2 * Math.PI * x) / DAY_MS);
    const seconds = (t - this.startMs) / 1000;
    return (
      REQUESTS_PER_S *
      (seconds + ((DAILY_SWING * DAY_MS) / 1000 / (2 * Math.PI)) * (phase(this.startMs) - phase(t)))
    );
  }
  /** Bad events of one SLI of a service since the start. */
  bad(service: number, slo: 'availability' | 'latency', t: number): number {
    let total = BASELINE[slo] * this.requests(t);
    for (const incident of INCIDENTS) {
      if (incident.service !== service || incident.slo !== slo) continue;
      const from = this.endMs + incident.fromMs;
      const to = incident.toMs === undefined ? Infinity : this.endMs + incident.toMs;
      if (t > from) total += incident.extra * (this.requests(Math.min(t, to)) - this.requests(from));
    }
    return total;
  }
}

/** 1/rank traffic over the routes, summing to 1. */
const routeWeights = Array.from({ length: ROUTES }, (_, r) => 1 / (r + 1));
const weightSum = routeWeights.reduce((a, b) => a + b, 0);
for (let r = 0; r < ROUTES; r++) routeWeights[r]! /= weightSum;

/**
 * One span-metric series: its value is w·(a·requests + b·failed + c·slow) of its service, with w the
 * route's share of the traffic. Failed requests are never slow, so each status has its own histogram.
 */
interface Series {
  name: string;
  labels: string;
  service: number;
  weight: number;
  coefficients: [number, number, number];
}

function seriesOf(model: Model, instance: string): Series[] {
  const thresholdMs = model.services[0]!.slos.find((s) => s.kind === 'latency')!.thresholdMs!;
  const bounds = BUCKETS === 'all' ? model.signals.metrics.histogramBucketsMs : [thresholdMs];
  const under = bounds.filter((b) => b < thresholdMs).length;
  const over = bounds.filter((b) => b > thresholdMs).length;
  const list: Series[] = [];
  model.services.forEach((service: ServiceModel, s) => {
    routeWeights.forEach((weight, r) => {
      const route = service.routes[r]!;
      for (const error of [false, true]) {
        const labels = (extra = '') =>
          `{service_name="${service.name}",span_name="GET ${route}",span_kind="${requestSpanKind(service)}",` +
          `status_code="${error ? ERROR_STATUS : 'STATUS_CODE_UNSET'}",http_route="${route}",job="synthetic",instance="${instance}"${extra}}`;
        const add = (name: string, extra: string, coefficients: [number, number, number]) =>
          list.push({ name, labels: labels(extra), service: s, weight, coefficients });
        // all requests of the status, and the fast ones (under the threshold)
        const count: [number, number, number] = error ? [0, 1, 0] : [1, -1, 0];
        const fast: [number, number, number] = error ? [0, 1, 0] : [1, -1, -1];
        add(SPAN_METRICS.calls, '', count);
        bounds.forEach((bound, i) => {
          // under the threshold a fixed share of the fast requests per bucket, over it of the slow ones
          const share = (k: number): [number, number, number] =>
            bound < thresholdMs
              ? [fast[0] * k, fast[1] * k, fast[2] * k]
              : [fast[0], fast[1], error ? 0 : fast[2] + k];
          add(
            SPAN_METRICS.durationBucket,
            `,le="${bound}"`,
            bound === thresholdMs
              ? fast
              : share(bound < thresholdMs ? (i + 1) / (under + 1) : (i - under) / (over + 1)),
          );
        });
        add(SPAN_METRICS.durationBucket, ',le="+Inf"', count);
        add(SPAN_METRICS.durationCount, '', count);
        if (BUCKETS === 'all')
          add(SPAN_METRICS.durationSum, '', [fast[0] * 40, fast[1] * 40, error ? 0 : -40 + 2 * thresholdMs]);
      }
    });
  });
  return list;
}

const families: { family: string; type: string; names: string[] }[] = [
  { family: SPAN_METRICS.calls.replace(/_total$/, ''), type: 'counter', names: [SPAN_METRICS.calls] },
  {
    family: SPAN_METRICS.durationCount.replace(/_count$/, ''),
    type: 'histogram',
    names: [SPAN_METRICS.durationBucket, SPAN_METRICS.durationCount, SPAN_METRICS.durationSum],
  },
];

const valueOf = (one: Series, requests: number, failed: number, slow: number) => {
  const [a, b, c] = one.coefficients;
  return Math.floor(one.weight * (a * requests + b * failed + c * slow));
};

/**
 * Every sample of one service's series in OpenMetrics, one series after another (each in time
 * order); one file per service keeps the disk it takes small.
 */
function writeOpenMetrics(file: string, series: Series[], traffic: Traffic, service: number): number {
  const points = (traffic.endMs - traffic.startMs) / SCRAPE_MS + 1;
  const at = (i: number) => traffic.startMs + i * SCRAPE_MS;
  const requests = Float64Array.from({ length: points }, (_, i) => traffic.requests(at(i)));
  const failed = Float64Array.from({ length: points }, (_, i) => traffic.bad(service, 'availability', at(i)));
  const slow = Float64Array.from({ length: points }, (_, i) => traffic.bad(service, 'latency', at(i)));
  const stamps = Array.from({ length: points }, (_, i) => Buffer.from(` ${at(i) / 1000}\n`));
  // written byte by byte into one buffer: string concatenation ran at a quarter million lines a second
  const buffer = Buffer.allocUnsafe(1 << 24);
  let used = 0;
  const fd = openSync(file, 'w');
  const flush = () => {
    writeSync(fd, buffer, 0, used);
    used = 0;
  };
  const put = (bytes: Buffer) => {
    if (used + bytes.length > buffer.length) flush();
    used += bytes.copy(buffer, used);
  };
  const digits = new Uint8Array(20);
  let samples = 0;
  for (const { family, type, names } of families) {
    put(Buffer.from(`# TYPE ${family} ${type}\n`));
    for (const one of series) {
      if (one.service !== service || !names.includes(one.name)) continue;
      const prefix = Buffer.from(`${one.name}${one.labels} `);
      for (let i = 0; i < points; i++) {
        put(prefix);
        let value = valueOf(one, requests[i]!, failed[i]!, slow[i]!);
        let n = 0;
        do {
          digits[n++] = 48 + (value % 10);
          value = Math.floor(value / 10);
        } while (value > 0);
        if (used + n > buffer.length) flush();
        while (n > 0) buffer[used++] = digits[--n]!;
        put(stamps[i]!);
      }
      samples += points;
    }
  }
  put(Buffer.from('# EOF\n'));
  flush();
  closeSync(fd);
  return samples;
}

/** The same series at the time of each scrape, for Prometheus. */
function serveMetrics(traffic: Traffic, series: () => Series[]): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const now = Date.now();
    const totals = new Map<number, [number, number, number]>();
    const of = (s: number) => {
      let t = totals.get(s);
      if (!t)
        totals.set(
          s,
          (t = [traffic.requests(now), traffic.bad(s, 'availability', now), traffic.bad(s, 'latency', now)]),
        );
      return t;
    };
    let body = '';
    for (const { family, type, names } of families) {
      body += `# TYPE ${family} ${type}\n`;
      for (const one of series())
        if (names.includes(one.name))
          body += `${one.name}${one.labels} ${valueOf(one, ...of(one.service))}\n`;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------
// Prometheus

interface Prometheus {
  url: string;
  child: ChildProcess;
  reload(ruleDir: string): Promise<void>;
  stop(): Promise<void>;
}

async function startPrometheus(
  binary: string,
  dir: string,
  target: string,
  ruleDir: string,
): Promise<Prometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = path.join(dir, 'prometheus.yml');
  const writeConfig = (rules: string) =>
    writeFile(
      configFile,
      dump({
        // the generated prometheus.yml evaluates rules at the scrape interval
        global: { scrape_interval: SCRAPE, evaluation_interval: SCRAPE },
        rule_files: [path.join(rules, '*.rules.yml')],
        scrape_configs: [{ job_name: 'synthetic', static_configs: [{ targets: [target] }] }],
      }),
    );
  await writeConfig(ruleDir);
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      // the backfilled blocks go back further than the default 15 days
      '--storage.tsdb.retention.time=400d',
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Prometheus exited:\n${output.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`Prometheus did not get ready:\n${output.slice(-3000)}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await sleep(500);
  }
  return {
    url,
    child,
    async reload(rules: string) {
      await writeConfig(rules);
      const response = await fetch(`${url}/-/reload`, { method: 'POST' });
      if (!response.ok) throw new Error(`reload failed: ${await response.text()}\n${output.slice(-3000)}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function api(prometheus: Prometheus, pathAndQuery: string): Promise<Json> {
  const response = await fetch(`${prometheus.url}${pathAndQuery}`);
  const body = (await response.json()) as Json;
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${JSON.stringify(body).slice(0, 500)}`);
  return body.data as Json;
}

const query = (prometheus: Prometheus, expr: string) =>
  api(prometheus, `/api/v1/query?query=${encodeURIComponent(expr)}`).then((d) => d.result as Json[]);

interface BlockMeta {
  minTime: number;
  maxTime: number;
}

async function blocks(dataDir: string): Promise<BlockMeta[]> {
  const metas: BlockMeta[] = [];
  for (const entry of await readdir(dataDir)) {
    const text = await readFile(path.join(dataDir, entry, 'meta.json'), 'utf8').catch(() => undefined);
    if (text) metas.push(JSON.parse(text) as BlockMeta);
  }
  return metas;
}

const overlapping = (metas: BlockMeta[]) =>
  metas.some((a, i) => metas.some((b, j) => i !== j && a.minTime < b.maxTime && b.minTime < a.maxTime));

// ---------------------------------------------------------------------------------------------
// Measuring

interface Evaluation {
  ms: number;
  /** evaluation time of each rule, by record or alert name (`slo` label of SLO rules appended) */
  rules: Map<string, number>;
  /** `alertname{service,slo} state` of every active alert of the group after this evaluation. */
  alerts: string[];
}

/** Loads one rule set and reads EVALUATIONS evaluations of each of its groups. */
async function measure(prometheus: Prometheus, label: string, ruleDir: string, groups: string[]) {
  await prometheus.reload(ruleDir);
  const seen = new Map<string, { last: string; evaluations: Evaluation[] }>(
    groups.map((g) => [g, { last: '', evaluations: [] }]),
  );
  const file = (f: string) => path.resolve(f).startsWith(path.resolve(ruleDir));
  const deadline = Date.now() + (EVALUATIONS + 3) * SCRAPE_MS * 4;
  while ([...seen.values()].some((g) => g.evaluations.length < EVALUATIONS)) {
    if (Date.now() > deadline) throw new Error(`${label}: fewer than ${EVALUATIONS} evaluations in time`);
    const data = await api(prometheus, '/api/v1/rules');
    for (const group of data.groups as Json[]) {
      const state = seen.get(group.name as string);
      if (!state || !file(group.file as string) || !group.lastEvaluation) continue;
      if (group.lastEvaluation === state.last || group.lastEvaluation.startsWith('0001')) continue;
      const failing = (group.rules as Json[]).filter((r) => r.health === 'err');
      if (failing.length > 0)
        throw new Error(`${label}: rule ${failing[0]!.name} failed: ${failing[0]!.lastError}`);
      state.last = group.lastEvaluation as string;
      if (state.evaluations.length >= EVALUATIONS) continue;
      state.evaluations.push({
        ms: (group.evaluationTime as number) * 1000,
        rules: new Map(
          (group.rules as Json[]).map((r) => [
            `${r.type === 'alerting' ? 'alert ' : ''}${r.name}${r.labels?.slo ? ` ${r.labels.slo}` : ''}`,
            (r.evaluationTime as number) * 1000,
          ]),
        ),
        alerts: (group.rules as Json[])
          .filter((r) => r.type === 'alerting')
          .flatMap((r) =>
            (r.alerts as Json[]).map(
              (a) => `${a.labels.alertname}{${a.labels.service_name},${a.labels.slo}} ${a.state}`,
            ),
          )
          .sort(),
      });
    }
    await sleep(1000);
  }
  const totals = Array.from({ length: EVALUATIONS }, (_, k) =>
    [...seen.values()].reduce((sum, g) => sum + g.evaluations[k]!.ms, 0),
  );
  const alerts = Array.from({ length: EVALUATIONS }, (_, k) =>
    [...seen.values()].flatMap((g) => g.evaluations[k]!.alerts).sort(),
  );
  const maxGroupMs = Math.max(...[...seen.values()].flatMap((g) => g.evaluations.map((e) => e.ms)));
  // the rules that cost most, summed over the groups, in the last evaluation
  const byRule = new Map<string, number>();
  for (const g of seen.values())
    for (const [rule, ms] of g.evaluations[EVALUATIONS - 1]!.rules)
      byRule.set(rule, (byRule.get(rule) ?? 0) + ms);
  const costliest = [...byRule]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([rule, ms]) => `${rule} ${ms.toFixed(0)} ms`);
  log(`${label}: costliest rules (all groups): ${costliest.join('; ')}`);
  const sorted = [...totals].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  log(
    `${label}: SLO groups evaluate in ${totals.map((t) => t.toFixed(0)).join(', ')} ms (summed over ${groups.length} groups; slowest group ${maxGroupMs.toFixed(0)} ms)`,
  );
  // the error ratios each long window recorded, to compare the two rule sets by value too
  const ratios = new Map<string, number>();
  for (const sample of await query(prometheus, `{__name__=~"slo:sli_error:ratio_rate[0-9]+[dh]"}`))
    ratios.set(
      `${sample.metric.__name__}{${sample.metric.service_name},${sample.metric.slo}}`,
      Number(sample.value[1]),
    );
  return { median, totals, maxGroupMs, alerts, ratios };
}

// ---------------------------------------------------------------------------------------------

const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-bench-rules-'));
let prometheus: Prometheus | undefined;
let target: http.Server | undefined;
try {
  const built = await runScript(process.env, (line) => log(line.trim()), 'build-backends.sh', [
    'prometheus',
    'promtool',
  ]);
  if (!built) throw new Error('building prometheus and promtool failed (output above)');
  const tools = Object.fromEntries(
    built
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string]),
  );
  const promtool = tools.promtool!;

  const specFile = path.join(scratch, 'otelkit.yaml');
  await writeFile(specFile, specText());
  const { model } = await loadSpec(specFile);
  const baseMs = baseWindowMs(model.signals.metrics.scrapeIntervalMs);
  const preaggregated = sloFiles(model, 'preaggregated');
  const groups = preaggregated.map((f) => f.groupName);
  await writeRules(
    path.join(scratch, 'rules/base'),
    preaggregated.map((f) => baseRuleFile(f, baseMs)),
  );
  await writeRules(path.join(scratch, 'rules/preaggregated'), preaggregated);
  await writeRules(path.join(scratch, 'rules/raw'), sloFiles(model, 'raw'));

  // the live target first: its address is the instance label of the backfilled series too
  const endMs = Math.floor(Date.now() / SCRAPE_MS) * SCRAPE_MS;
  const traffic = new Traffic(endMs);
  let series: Series[] = [];
  target = await serveMetrics(traffic, () => series);
  const instance = `127.0.0.1:${(target.address() as AddressInfo).port}`;
  series = seriesOf(model, instance);

  let mark = performance.now();
  const lap = () => {
    const seconds = (performance.now() - mark) / 1000;
    mark = performance.now();
    return seconds.toFixed(0);
  };
  const dataDir = path.join(scratch, 'prometheus/data');
  await mkdir(dataDir, { recursive: true });
  let samples = 0;
  let bytes = 0;
  let importS = 0;
  for (let s = 0; s < model.services.length; s++) {
    const openMetrics = path.join(scratch, `span-metrics-${s}.om`);
    samples += writeOpenMetrics(openMetrics, series, traffic, s);
    bytes += (await stat(openMetrics)).size;
    const started = performance.now();
    // one block for the whole range where it fits: promtool reads the file once per block
    const imported = await execa(
      promtool,
      ['tsdb', 'create-blocks-from', 'openmetrics', '--max-block-duration=1500h', '-q', openMetrics, dataDir],
      { reject: false, all: true },
    );
    if (imported.exitCode !== 0) throw new Error(`create-blocks-from openmetrics failed:\n${imported.all}`);
    importS += (performance.now() - started) / 1000;
    await rm(openMetrics);
  }
  log(
    `${series.length} series, ${samples} samples (${(bytes / 2 ** 30).toFixed(1)} GiB of OpenMetrics) written and imported ` +
      `by promtool tsdb create-blocks-from openmetrics in ${lap()} s (${importS.toFixed(0)} s of it promtool)`,
  );

  prometheus = await startPrometheus(
    tools.prometheus!,
    path.join(scratch, 'prometheus'),
    instance,
    path.join(scratch, 'rules/base'),
  );
  const startedMs = Date.now();
  log(`Prometheus up at ${prometheus.url} (pid ${prometheus.child.pid}), recording the base rates live`);
  const rulesOut = path.join(scratch, 'rule-blocks');
  const backfilled = await execa(
    promtool,
    [
      'tsdb',
      'create-blocks-from',
      'rules',
      `--url=${prometheus.url}`,
      `--start=${Math.floor(traffic.startMs / 1000)}`,
      // up to where the live evaluations take over (the backfill ends on a whole base window)
      `--end=${Math.floor(Math.min(endMs + baseMs, startedMs) / 1000)}`,
      `--eval-interval=${SCRAPE}`,
      `--output-dir=${rulesOut}`,
      ...preaggregated.map((f) => path.join(scratch, 'rules/base', `${f.file}.rules.yml`)),
    ],
    { reject: false, all: true },
  );
  if (backfilled.exitCode !== 0)
    throw new Error(`create-blocks-from rules failed:\n${backfilled.all?.slice(-3000)}`);
  const ruleBlocks = (await readdir(rulesOut)).filter((e) => /^[0-9A-Z]{26}$/.test(e));
  for (const block of ruleBlocks) await rename(path.join(rulesOut, block), path.join(dataDir, block));
  log(
    `${ruleBlocks.length} blocks of base rates backfilled by promtool tsdb create-blocks-from rules in ${lap()} s`,
  );
  // Prometheus picks the blocks up and merges them with the span metrics' (they overlap in time):
  // measure only once that compaction is over
  const probe = `count_over_time(${RULE.sloRequests(baseMs)}{service_name="${model.services[0]!.name}",slo="availability"}[${DAYS}d])`;
  for (;;) {
    const metas = await blocks(dataDir);
    const history = Number((await query(prometheus, probe))[0]?.value[1] ?? 0);
    if (!overlapping(metas) && history >= ((DAYS * DAY_MS) / SCRAPE_MS) * 0.95) {
      log(
        `${metas.length} blocks, none overlapping; ${history} base samples over ${DAYS}d (compaction took ${lap()} s)`,
      );
      break;
    }
    await sleep(5000);
  }

  const pre = await measure(prometheus, 'preaggregated', path.join(scratch, 'rules/preaggregated'), groups);
  const raw = await measure(prometheus, 'raw windows', path.join(scratch, 'rules/raw'), groups);

  const sameAlerts = JSON.stringify(pre.alerts) === JSON.stringify(raw.alerts);
  const final = raw.alerts[EVALUATIONS - 1]!;
  log(`alerts after ${EVALUATIONS} evaluations (raw windows): ${final.join('; ') || 'none'}`);
  if (!sameAlerts)
    log(`DIFFERENT alerts: preaggregated ${JSON.stringify(pre.alerts)} vs raw ${JSON.stringify(raw.alerts)}`);
  let maxRelDiff = 0;
  for (const [key, value] of raw.ratios) {
    const other = pre.ratios.get(key);
    if (other === undefined || value === 0) continue;
    maxRelDiff = Math.max(maxRelDiff, Math.abs(other - value) / value);
  }
  const ratio = raw.median / pre.median;
  log(
    `raw windows ${raw.median.toFixed(0)} ms, preaggregated ${pre.median.toFixed(0)} ms: ${ratio.toFixed(1)}x (target >= ${TARGET_RATIO}x)`,
  );
  console.log(
    JSON.stringify({
      bench: 'rules',
      eval_ms_raw: Number(raw.median.toFixed(1)),
      eval_ms_preaggregated: Number(pre.median.toFixed(1)),
      ratio: Number(ratio.toFixed(1)),
      services: SERVICES,
      routes_per_service: ROUTES,
      slos: SERVICES * 2,
      series: series.length,
      days: DAYS,
      scrape_interval: SCRAPE,
      samples,
      buckets: BUCKETS,
      evaluations: EVALUATIONS,
      eval_ms_raw_each: raw.totals.map((t) => Math.round(t)),
      eval_ms_preaggregated_each: pre.totals.map((t) => Math.round(t)),
      slowest_group_ms: { raw: Math.round(raw.maxGroupMs), preaggregated: Math.round(pre.maxGroupMs) },
      same_alerts: sameAlerts,
      alerts: final,
      long_window_ratio_max_rel_diff: Number(maxRelDiff.toFixed(4)),
    }),
  );
  if (!sameAlerts) process.exitCode = 1;
} finally {
  await prometheus?.stop();
  if (target) await new Promise((resolve) => target!.close(resolve));
  await rm(scratch, { recursive: true, force: true });
}
