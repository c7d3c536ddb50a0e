/**
 * The tail samplers' size follows the spec's expected load, and CollectorTailSamplingEvicting
 * reads the series a real Collector exports when its buffer overflows (the generated processors,
 * shrunk so that a test can overflow them).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { buildCatalogue } from '../../../generator/alerting/catalogue.ts';
import { tailSamplingTraces, tracesPerSamplingCollector } from '../../../generator/model/sampling.ts';
import { collectorTarget } from '../../../generator/targets/collector.ts';
import { tempDir } from '../../support/helpers.ts';
import { sendSpans, spanId, traceId, type TestSpan } from '../../support/otlp.ts';
import {
  collectorPorts,
  deadEndpoint,
  eventually,
  onLoopback,
  startCollector,
  type Proc,
} from '../../support/processes.ts';
import { collectorFor, exampleModel } from '../../support/collector-spec.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const started: Proc[] = [];
afterAll(async () => {
  for (const proc of started.reverse()) await proc.stop();
});

const EVICTING = 'CollectorTailSamplingEvicting';

describe('tail sampling size', () => {
  it('holds every trace of one decision wait at the expected peak, twice over, shared by the gateways', async () => {
    const single = await exampleModel('shop', (spec) => {
      // 5,000 traces of 10 spans a second
      spec.collector = {
        ...spec.collector,
        expected_load: { spans_per_second: 50_000, spans_per_trace: 10 },
      };
      spec.signals.traces.sampling.decision_wait = '30s';
    });
    const config = collectorTarget.generate(single)[0]!.content as Json;
    expect(config.processors.tail_sampling).toMatchObject({
      num_traces: tailSamplingTraces(single),
      expected_new_traces_per_sec: 5000,
    });
    expect(tailSamplingTraces(single)).toBeGreaterThanOrEqual(5000 * 30 * 2);
    const gateway = await exampleModel('gateway', (spec) => {
      spec.collector = {
        ...spec.collector,
        expected_load: { spans_per_second: 36_000, spans_per_trace: 4 },
        gateway_replicas: 3,
      };
    });
    expect(tracesPerSamplingCollector(gateway)).toBe(3000);
    // the processor's own default stays the floor
    expect(tailSamplingTraces(await exampleModel('shop'))).toBe(50_000);
  });

  it(`${EVICTING} reads the bucket a real Collector fills only when it evicts traces before deciding`, async () => {
    const model = await exampleModel('shop', (spec) => {
      for (const service of spec.services)
        for (const dependency of service.dependencies ?? []) delete dependency.resilience;
      spec.signals.traces.sampling.decision_wait = '10s';
    });
    const alert = buildCatalogue(model).alerts.find((a) => a.rule.alert === EVICTING)!;
    const [, metric, le] = /rate\((\w+)\{le="([^"]+)"\}/.exec(alert.rule.expr)!;

    async function run(label: string, numTraces?: number) {
      const ports = await collectorPorts();
      const dead = await deadEndpoint();
      const config = onLoopback(collectorTarget.generate(model)[0]!.content, {
        ports,
        queueDir: await tempDir('queue'),
        exporters: {
          'otlp_grpc/tempo': (e) => (e.endpoint = dead),
          'otlp_http/prometheus': (e) => (e.metrics_endpoint = `http://${dead}/v1/metrics`),
          'otlp_http/loki': (e) => (e.logs_endpoint = `http://${dead}/v1/logs`),
        },
      });
      if (numTraces !== undefined)
        for (const id of ['tail_sampling', 'tail_sampling/base_rate'])
          config.processors[id].num_traces = numTraces;
      const collector = await startCollector(await collectorFor(model, 'shop'), config, label);
      started.push(collector);
      const spans: TestSpan[] = Array.from({ length: 300 }, () => ({
        service: 'storefront',
        traceId: traceId(),
        spanId: spanId(),
        name: 'GET /',
        kind: 'server',
        attributes: { 'http.request.method': 'GET', 'url.path': '/' },
      }));
      await sendSpans(ports.otlpHttp, spans);
      const sample = async (match: (line: string) => boolean) => {
        const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
        // both tail samplers report the histogram: their series added up
        const lines = text.split('\n').filter(match);
        return lines.length === 0 ? undefined : lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      };
      const bucket = () => sample((l) => l.startsWith(`${metric}{`) && l.includes(`le="${le}"`));
      const count = metric!.replace(/_bucket$/, '_count');
      const removals = () => sample((l) => l.startsWith(`${count} `) || l.startsWith(`${count}{`));
      return { bucket, removals, collector };
    }

    const overflowing = await run('evicting', 100);
    const evicted = await eventually('an eviction before the decision', 30_000, async () =>
      ((await overflowing.bucket()) ?? 0) > 0 ? true : undefined,
    );
    expect(evicted).toBe(true);

    // a sized buffer: every trace leaves after its decision (10 s), recorded in the histogram, and
    // none of them in the alert's bucket
    const sized = await run('sized');
    const removed = await eventually('traces removed after their decision', 40_000, async () =>
      ((await sized.removals()) ?? 0) >= 300 ? true : undefined,
    );
    expect(removed).toBe(true);
    expect((await sized.bucket()) ?? 0).toBe(0);
  }, 180_000);
});
