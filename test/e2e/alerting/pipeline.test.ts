import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { dump, load } from 'js-yaml';
import { render } from '../../../generator/emit/emit.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { findTool } from '../../../generator/validate/tools.ts';
import { REPO, freePort, tempDir } from '../../support/helpers.ts';
import {
  collectorPorts,
  deadEndpoint,
  eventually,
  onLoopback,
  startCollector,
  type CollectorPorts,
  type Proc,
} from '../../support/processes.ts';

/**
 * The pipeline alerts against the real Collector and a real Prometheus scraping it with the
 * generated job and rules, telemetry arriving all along. Three backends, three fates: Tempo is
 * unreachable on loopback (the queue grows, nothing is lost yet: the early alert), Loki refuses
 * every request for good (data is lost: the critical alert), Prometheus itself takes the span
 * metrics (sent: neither alert). Each alert's expression is evaluated by Prometheus's query API
 * on the names the pinned Collector really exposes.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const files = new Map<string, string>();
let collector: Proc | undefined;
let prometheus: Proc | undefined;
let promUrl = '';
let ports: CollectorPorts;
let stopTraffic = false;
let traffic: Promise<void> | undefined;
let refusing: Server | undefined;

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as { status: string; error?: string; data: { result: never[] } };
  if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
  return body.data.result;
}

const post = (port: number, signal: string, body: unknown) =>
  fetch(`http://127.0.0.1:${port}/v1/${signal}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).catch(() => undefined);

const resource = { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] };

/** OTLP/JSON spans of failing requests (tail sampling keeps errors) and log records, a few a second. */
async function sendTelemetry(port: number) {
  for (let i = 1; !stopTraffic; i++) {
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource,
          scopeSpans: [
            {
              spans: Array.from({ length: 20 }, (_, j) => ({
                traceId: (i * 100 + j).toString(16).padStart(32, '0'),
                spanId: (i * 100 + j).toString(16).padStart(16, '0'),
                name: 'POST /checkout',
                kind: 2,
                startTimeUnixNano: String(now),
                endTimeUnixNano: String(now + 5_000_000n),
                attributes: [{ key: 'http.route', value: { stringValue: '/checkout' } }],
                status: { code: 2 },
              })),
            },
          ],
        },
      ],
    };
    await post(port, 'traces', body);
    await post(port, 'logs', {
      resourceLogs: [
        {
          resource,
          scopeLogs: [
            {
              logRecords: [
                { timeUnixNano: String(now), severityText: 'ERROR', body: { stringValue: 'payment failed' } },
              ],
            },
          ],
        },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  const specFile = path.join(REPO, 'examples/shop/otelkit.yaml');
  const model = (await loadSpec(specFile)).model;
  for (const [relative, content] of render(generateArtifacts(model), 'examples/shop/otelkit.yaml'))
    files.set(relative, content);
  const dir = await tempDir('pipeline-alerts');

  await writeFile(path.join(dir, 'builder-config.yaml'), files.get('stacks/collector/builder-config.yaml')!);
  const built = await execa(
    path.join(REPO, 'scripts/build-collector.sh'),
    [path.join(dir, 'builder-config.yaml')],
    {
      reject: false,
      all: true,
    },
  );
  if (built.exitCode !== 0) throw new Error(`Collector build failed:\n${built.all?.slice(-3000)}`);
  const binary = built.stdout.trim().split('\n').pop()!;

  ports = await collectorPorts();
  const dead = await deadEndpoint();
  // a backend that answers every request with 400: a permanent error, so the data is dropped at once
  refusing = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(400, { 'content-type': 'text/plain' }).end('rejected'));
  });
  await new Promise<void>((resolve) => refusing!.listen(0, '127.0.0.1', resolve));
  const refusingPort = (refusing.address() as AddressInfo).port;
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  const config = onLoopback(load(files.get('stacks/collector/config.yaml')!), {
    ports,
    queueDir: path.join(dir, 'queue'),
    exporters: {
      'otlp_grpc/tempo': (e: Json) => void (e.endpoint = dead),
      'otlp_http/prometheus': (e: Json) => void (e.metrics_endpoint = `${promUrl}/api/v1/otlp/v1/metrics`),
      'otlp_http/loki': (e: Json) => void (e.logs_endpoint = `http://127.0.0.1:${refusingPort}/otlp/v1/logs`),
    },
  });
  await mkdir(path.join(dir, 'queue'), { recursive: true });

  // Prometheus as generated, its Collector job pointed at this Collector, rules as generated
  const promBinary = await findTool('prometheus', process.env);
  if (!promBinary) throw new Error('no prometheus binary: run scripts/build-backends.sh prometheus');
  const generated = load(files.get('stacks/prometheus/prometheus.yml')!) as Json;
  const job = (generated.scrape_configs as Json[]).find((j) => j.job_name === 'otel-collector')!;
  await writeFile(path.join(dir, 'pipeline.rules.yml'), files.get('alerts/pipeline.rules.yml')!);
  const promConfig: Json = {
    ...generated,
    global: { ...generated.global, scrape_interval: '2s', evaluation_interval: '2s' },
    rule_files: [path.join(dir, 'pipeline.rules.yml')],
    // the generated job, one loopback target in place of the compose host names
    scrape_configs: [{ ...job, static_configs: [{ targets: [`127.0.0.1:${ports.metrics}`] }] }],
  };
  delete promConfig.alerting;
  await writeFile(path.join(dir, 'prometheus.yml'), dump(promConfig, { lineWidth: -1 }));
  const child = spawn(
    promBinary,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--web.enable-otlp-receiver',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  prometheus = {
    output: () => output,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await done;
    },
  };
  await eventually('Prometheus ready', 60_000, async () =>
    (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok ? true : undefined,
  );
  collector = await startCollector(binary, config, 'pipeline-alerts');
  traffic = sendTelemetry(ports.otlpHttp);
}, 30 * 60_000);

afterAll(async () => {
  stopTraffic = true;
  await traffic;
  await collector?.stop();
  await prometheus?.stop();
  refusing?.close();
});

const ruleExpr = (alert: string): string =>
  ((load(files.get('alerts/pipeline.rules.yml')!) as Json).groups[0].rules as Json[]).find(
    (r) => r.alert === alert,
  )!.expr;

const exportersOf = async (expr: string) => new Set((await query(expr)).map((r) => r.metric.exporter));

describe('pipeline alerts on a real Collector: one backend down, one refusing, one working', () => {
  it('Prometheus scrapes the Collector under the generated job, with the names the rules read', async () => {
    // every exporter has seen data: queued (Tempo), dropped (Loki), sent (Prometheus)
    await eventually('the three exporters to report', 150_000, async () => {
      const sent = await exportersOf('otelcol_exporter_sent_metric_points');
      const failed = await exportersOf('otelcol_exporter_send_failed_log_records');
      const queued = await exportersOf('otelcol_exporter_queue_size{exporter="otlp_grpc/tempo"} > 0');
      return sent.has('otlp_http/prometheus') && failed.has('otlp_http/loki') && queued.size > 0
        ? true
        : undefined;
    });
    const up = await query('up{job="otel-collector"}');
    expect(up.map((r) => [r.metric.instance, r.value[1]])).toEqual([[`127.0.0.1:${ports.metrics}`, '1']]);
    // every otelcol_ name a pipeline rule reads is one the Collector exposes (a name it never
    // sends here, like enqueue failures, must at least be declared in its metadata)
    const scraped = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    const exposed = new Set(scraped.split('\n').flatMap((l) => /^(otelcol_[a-z_]+)[{ ]/.exec(l)?.[1] ?? []));
    const referenced = [...new Set(ruleNames())];
    const seenHere = referenced.filter((name) => exposed.has(name));
    expect(seenHere).toEqual(
      expect.arrayContaining([
        'otelcol_exporter_queue_size',
        'otelcol_exporter_queue_capacity',
        'otelcol_exporter_sent_metric_points',
        'otelcol_exporter_send_failed_log_records',
        'otelcol_receiver_refused_spans',
      ]),
    );
    // no `_total` suffix: a counter the Collector exposes under another name would leave a rule blind
    expect([...exposed].filter((name) => name.endsWith('_total'))).toEqual([]);
  }, 200_000);

  it('the early alert (CollectorExporterQueueGrowing) returns the unreachable backend only, before any loss', async () => {
    // right after start-up a refusing exporter's queue can hold a batch for a scrape or two (deriv
    // over those few samples is positive), so wait for the steady state rather than the first answer
    const growing = await eventually(
      'the early alert expression to return Tempo alone',
      120_000,
      async () => {
        const result = await query(ruleExpr('CollectorExporterQueueGrowing'));
        return result.length === 1 && result[0]!.metric.exporter === 'otlp_grpc/tempo' ? result : undefined;
      },
    );
    expect(growing.map((r) => r.metric)).toEqual([
      { exporter: 'otlp_grpc/tempo', job: 'otel-collector', instance: `127.0.0.1:${ports.metrics}` },
    ]);
    // the Tempo exporter has lost nothing yet
    for (const alert of ['CollectorExporterSendFailures', 'CollectorDroppingData'])
      expect({ alert, tempo: (await exportersOf(ruleExpr(alert))).has('otlp_grpc/tempo') }).toEqual({
        alert,
        tempo: false,
      });
    // Prometheus evaluates the rule itself: pending (for: 5m) for Tempo alone, once the working
    // exporter's first sends are two scrapes old (before that its rate is unknown, and `for` covers it)
    const pending = await eventually('the rule to be pending for Tempo alone', 60_000, async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
        data: { alerts: { labels: Json; state: string }[] };
      };
      const found = body.data.alerts
        .filter((a) => a.labels.alertname === 'CollectorExporterQueueGrowing')
        .map((a) => [a.labels.exporter, a.state]);
      return found.length === 1 && found[0]![0] === 'otlp_grpc/tempo' ? found : undefined;
    });
    expect(pending).toEqual([['otlp_grpc/tempo', 'pending']]);
  }, 200_000);

  it('the critical loss alert (CollectorExporterSendFailures) returns the refusing backend, and not the working one', async () => {
    const lost = await exportersOf(ruleExpr('CollectorExporterSendFailures'));
    expect([...lost]).toEqual(['otlp_http/loki']);
    expect(await exportersOf(ruleExpr('CollectorExporterQueueGrowing'))).not.toContain(
      'otlp_http/prometheus',
    );
  });
});

function ruleNames(): string[] {
  const rules = (load(files.get('alerts/pipeline.rules.yml')!) as Json).groups[0].rules as Json[];
  return rules.flatMap((r) => (r.expr as string).match(/otelcol_[a-z_]+/g) ?? []);
}
