/**
 * The preload's route labels and instance ids end to end: real Express and Koa apps under the
 * generated preload → the real Collector on its generated config → real Prometheus with the
 * generated config and recording rules. The frameworks name the route `/products/:productId`; the
 * spec, and so the SLO's selector, says `/products/{productId}`: the SLO must see the traffic. Two
 * replicas of one service must stay two series, each with its own count.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { SPAN_METRICS } from '../../../../generator/model/conventions.ts';
import { alertRulesTarget } from '../../../../generator/targets/alert-rules.ts';
import { collectorTarget } from '../../../../generator/targets/collector.ts';
import { preloadTarget } from '../../../../generator/targets/preload.ts';
import { prometheusConfig } from '../../../../generator/targets/prometheus.ts';
import { collectorFor, exampleModel } from '../../../support/collector-spec.ts';
import { tempDir } from '../../../support/helpers.ts';
import { appDirectory, runApp, type RunningApp } from '../../../support/preload-harness.ts';
import {
  collectorPorts,
  deadEndpoint,
  eventually,
  onLoopback,
  startCollector,
  startPrometheus,
  type Proc,
} from '../../../support/processes.ts';

const SERVICE = 'storefront';
const ROUTE = '/products/{productId}';

const EXPRESS = `
import express from 'express';
const app = express();
app.get('/products/:productId', (req, res) => res.json({ id: req.params.productId }));
const server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

const KOA = `
import Koa from 'koa';
import Router from '@koa/router';
const app = new Koa();
const router = new Router();
router.get('/products/:productId', (ctx) => { ctx.body = { id: ctx.params.productId }; });
app.use(router.routes());
const server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

const started: Proc[] = [];
const apps: RunningApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.stop();
  for (const proc of started.reverse()) await proc.stop();
});

describe('preloaded Express and Koa apps through the real Collector into Prometheus', () => {
  it('label the templated route as the SLO selects it, one series per replica, counts intact', async () => {
    // a short scrape interval, as a user may set it, so span metrics arrive within seconds
    const model = await exampleModel('shop', (spec) => {
      spec.signals.metrics.scrape_interval = '1s';
    });
    const rules = alertRulesTarget.generate(model);
    const prometheus = await startPrometheus(
      prometheusConfig(model) as Record<string, unknown>,
      rules.map((file) => ({ name: file.path.split('/').pop()!, content: file.content })),
    );
    started.push(prometheus);
    const ports = await collectorPorts();
    const dead = await deadEndpoint();
    const config = onLoopback(collectorTarget.generate(model)[0]!.content, {
      ports,
      queueDir: await tempDir('queue'),
      exporters: {
        'otlp_grpc/tempo': (e) => (e.endpoint = dead),
        'otlp_http/prometheus': (e) => (e.metrics_endpoint = `${prometheus.url}/api/v1/otlp/v1/metrics`),
        'otlp_http/loki': (e) => (e.logs_endpoint = `http://${dead}/otlp/v1/logs`),
      },
    });
    started.push(await startCollector(await collectorFor(model, 'shop'), config, 'preload-routes'));

    const dir = await appDirectory('preload-pipeline', ['express', 'koa', '@koa/router']);
    await writeFile(path.join(dir, 'express.mjs'), EXPRESS);
    await writeFile(path.join(dir, 'koa.mjs'), KOA);
    await mkdir(path.join(dir, 'preload'));
    for (const artifact of preloadTarget.generate(model)) {
      if (artifact.format === 'text') await writeFile(path.join(dir, artifact.path), artifact.content);
    }
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ports.otlpHttp}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    const preload = ['--import', `./preload/${SERVICE}.mjs`];
    const replicaA = await runApp({ dir, file: 'express.mjs', preload }, env);
    const replicaB = await runApp({ dir, file: 'express.mjs', preload }, env);
    const koa = await runApp({ dir, file: 'koa.mjs', preload }, env);
    apps.push(replicaA, replicaB, koa);
    const sent = new Map<RunningApp, number>([
      [replicaA, 7],
      [replicaB, 3],
      [koa, 5],
    ]);
    // spread over a few seconds, so the rate windows hold more than one sample of the counters
    for (let round = 0; round < 7; round++) {
      for (const [app, count] of sent) {
        if (round < count) expect((await app.request(`/products/${round + 100}`)).status).toBe(200);
      }
      await new Promise((resolve) => setTimeout(resolve, 700));
    }

    // server spans, as the SLOs count them (Koa's router layer spans carry the route too)
    const calls = `${SPAN_METRICS.calls}{service_name="${SERVICE}",span_kind="SPAN_KIND_SERVER",http_route="${ROUTE}"}`;
    const series = await eventually('every request counted, per replica', 90_000, async () => {
      const result = await prometheus.query(`sum by (instance) (${calls})`);
      const counts = result.map((r) => Number(r.value[1])).sort((a, b) => a - b);
      return JSON.stringify(counts) === '[3,5,7]' ? result : undefined;
    });
    expect(new Set(series.map((r) => r.metric.instance)).size).toBe(3);
    // no span went under the framework's own spelling of the route, router layers included
    expect(await prometheus.query(`${SPAN_METRICS.calls}{http_route=~".*:productId.*"}`)).toEqual([]);
    expect(
      await prometheus.query(`${SPAN_METRICS.calls}{span_kind="SPAN_KIND_INTERNAL",http_route="${ROUTE}"}`),
    ).toHaveLength(1);

    // the latency SLO's recording rule, which selects http_route=~"/products|/products/\{productId\}"
    const sli = await eventually('the latency SLI recorded with data', 120_000, async () => {
      const result = await prometheus.query(
        `slo:sli_error:ratio_rate5m{service_name="${SERVICE}",slo="latency"}`,
      );
      return result.length > 0 && Number.isFinite(Number(result[0]!.value[1])) ? result : undefined;
    });
    expect(Number(sli[0]!.value[1])).toBe(0);
  }, 600_000);
});
