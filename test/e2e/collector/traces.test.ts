/**
 * The generated trace pipeline in a real Collector, with a sink Collector standing in for Tempo:
 * which route and name each span leaves with, and how tail sampling treats slow and late spans.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { tailDecisionWaitMs } from '../../../generator/model/sampling.ts';
import { collectorTarget } from '../../../generator/targets/collector.ts';
import type { Model } from '../../../generator/model/model.ts';
import { tempDir } from '../../support/helpers.ts';
import { sendSpans, spanId, traceId, type TestSpan } from '../../support/otlp.ts';
import {
  collectorPorts,
  deadEndpoint,
  eventually,
  onLoopback,
  startCollector,
  startSink,
  type Proc,
  type Sink,
} from '../../support/processes.ts';
import { collectorFor, exampleModel } from '../../support/collector-spec.ts';

const started: Proc[] = [];
afterAll(async () => {
  for (const proc of started.reverse()) await proc.stop();
});

/** The shop's single-mode Collector exporting traces to a sink; the gateway build has the debug exporter. */
async function pipeline(model: Model, label: string) {
  const sink = await startSink(await collectorFor(await exampleModel('gateway'), 'gateway'));
  started.push(sink);
  const ports = await collectorPorts();
  const dead = await deadEndpoint();
  const config = onLoopback(collectorTarget.generate(model)[0]!.content, {
    ports,
    queueDir: await tempDir('queue'),
    exporters: {
      'otlp_grpc/tempo': (e) => (e.endpoint = sink.endpoint),
      'otlp_http/prometheus': (e) => (e.metrics_endpoint = `http://${dead}/api/v1/otlp/v1/metrics`),
      'otlp_http/loki': (e) => (e.logs_endpoint = `http://${dead}/otlp/v1/logs`),
    },
  });
  const collector = await startCollector(await collectorFor(model, 'shop'), config, label);
  started.push(collector);
  return {
    sink,
    send: (spans: TestSpan[]) => sendSpans(ports.otlpHttp, spans),
    /** One series of the Collector's own telemetry, summed over its labels that match `labels`. */
    async telemetry(metric: RegExp, labels = '') {
      const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
      let sum: number | undefined;
      for (const line of text.split('\n')) {
        const match = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (match && metric.test(match[1]!) && (match[2] ?? '').includes(labels))
          sum = (sum ?? 0) + Number(match[3]);
      }
      return sum;
    },
  };
}

const arrived = (sink: Sink, id: string) => sink.spans().find((s) => s.spanId === id);

describe('route normalisation (real Collector)', () => {
  it('gives unmatched paths one fixed route, never the raw path, and names spans after the route', async () => {
    // no resilience budgets and a 1s wait: the shortest decision the spec allows, to keep this quick
    const model = await exampleModel('shop', (spec) => {
      for (const service of spec.services)
        for (const dependency of service.dependencies ?? []) delete dependency.resilience;
      spec.signals.traces.sampling.decision_wait = '1s';
    });
    const { sink, send } = await pipeline(model, 'routes');
    const server = (service: string, path: string, extra: Record<string, string> = {}): TestSpan => ({
      service,
      traceId: traceId(),
      spanId: spanId(),
      name: 'GET',
      kind: 'server',
      error: true, // kept by tail sampling whatever the base rate
      attributes: { 'http.request.method': 'GET', 'url.path': path, ...extra },
    });
    const templated = server('storefront', '/products/123');
    const untemplated = server('legacy-api', '/users/42/orders/7');
    const sdkRoute = server('legacy-api', '/ignored', { 'http.route': '/a/1/2' });
    const client: TestSpan = {
      service: 'storefront',
      traceId: traceId(),
      spanId: spanId(),
      name: 'GET /files/9f1c2b3e-1d2c-4b5a-8e9f-0a1b2c3d4e5f/7/8',
      kind: 'client',
      error: true,
    };
    await send([templated, untemplated, sdkRoute, client]);
    const seen = await eventually('the spans at the sink', 60_000, async () => {
      const spans = [templated, untemplated, sdkRoute, client].map((s) => arrived(sink, s.spanId));
      return spans.every(Boolean)
        ? spans.map((s) => ({ name: s!.name, route: s!.attributes['http.route'] }))
        : undefined;
    });
    expect(seen).toEqual([
      { name: 'GET /products/{productId}', route: '/products/{productId}' },
      { name: 'GET /{other}', route: '/{other}' },
      { name: 'GET', route: '/a/{id}/{id}' },
      { name: 'GET /files/{uuid}/{id}/{id}', route: undefined },
    ]);
  }, 180_000);
});

describe('service-graph weights (real Collector)', () => {
  it('marks spans of traces kept only by the base rate with that rate, and keeps every trace once', async () => {
    const model = await exampleModel('shop', (spec) => {
      for (const service of spec.services)
        for (const dependency of service.dependencies ?? []) delete dependency.resilience;
      spec.signals.traces.sampling.decision_wait = '1s';
    });
    const { sink, send } = await pipeline(model, 'weights');
    // storefront → checkout edges: 300 ordinary requests and 30 failed ones
    const edge = (error: boolean): TestSpan[] => {
      const trace = traceId();
      const client = spanId();
      return [
        { service: 'storefront', traceId: trace, spanId: client, name: 'POST', kind: 'client', error },
        {
          service: 'checkout',
          traceId: trace,
          spanId: spanId(),
          parentSpanId: client,
          name: 'POST /checkout',
          kind: 'server',
          error,
          attributes: { 'http.request.method': 'POST', 'http.route': '/checkout' },
        },
      ];
    };
    const ordinary = Array.from({ length: 300 }, () => edge(false));
    const failed = Array.from({ length: 30 }, () => edge(true));
    for (let i = 0; i < ordinary.length; i += 50) await send(ordinary.slice(i, i + 50).flat());
    await send(failed.flat());
    const failedIds = new Set(failed.map(([client]) => client!.traceId));
    await eventually('every failed trace at the sink', 60_000, async () =>
      [...failedIds].every((id) => sink.spans().filter((s) => s.traceId === id).length === 2)
        ? true
        : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const spans = sink.spans();
    const ratio = (id: string) =>
      new Set(spans.filter((s) => s.traceId === id).map((s) => s.attributes['otelkit.sampling.ratio']));
    // failed traces: kept whole, once, standing for themselves
    for (const id of failedIds) {
      expect(spans.filter((s) => s.traceId === id)).toHaveLength(2);
      expect(ratio(id)).toEqual(new Set([undefined]));
    }
    // ordinary traces: about a tenth kept, whole and once, each span marked with the rate
    const kept = ordinary
      .map(([client]) => client!.traceId)
      .filter((id) => spans.some((s) => s.traceId === id));
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.length).toBeLessThan(75);
    for (const id of kept) {
      expect(spans.filter((s) => s.traceId === id)).toHaveLength(2);
      expect(ratio(id)).toEqual(new Set([String(model.signals.traces.baseRate)]));
    }
  }, 180_000);
});

describe('tail sampling (real Collector)', () => {
  it('waits out the spec’s retry budgets, and late spans follow the decision made', async () => {
    const model = await exampleModel('shop');
    const waitMs = tailDecisionWaitMs(model);
    // the shop's worst request: fulfilment-worker's orders-db, 5 attempts of 2 s with 1+2+4+8 s backoff
    expect(waitMs).toBeGreaterThanOrEqual(25_000 + 5_000);
    const { sink, send, telemetry } = await pipeline(model, 'sampling');

    // a request whose dependency call failed while the request ran on: its server span (quick to
    // export, not slow, not an error) reaches the Collector 12 s after the failed client span,
    // which a 10 s wait would already have decided and sent on alone
    const trace = traceId();
    const root = spanId();
    const failedCall: TestSpan = {
      service: 'checkout',
      traceId: trace,
      spanId: spanId(),
      parentSpanId: root,
      name: 'POST',
      kind: 'client',
      error: true,
    };
    const t0 = Date.now();
    await send([failedCall]);
    let failedCallSeenAt: number | undefined;
    while (Date.now() - t0 < 12_000) {
      if (!failedCallSeenAt && arrived(sink, failedCall.spanId)) failedCallSeenAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const rootSpan: TestSpan = {
      service: 'checkout',
      traceId: trace,
      spanId: root,
      name: 'POST /checkout',
      kind: 'server',
      durationMs: 40,
      attributes: { 'http.request.method': 'POST', 'http.route': '/checkout' },
    };
    await send([rootSpan]);
    await eventually('the whole trace at the sink', waitMs + 30_000, async () => {
      if (!failedCallSeenAt && arrived(sink, failedCall.spanId)) failedCallSeenAt = Date.now();
      return arrived(sink, failedCall.spanId) && arrived(sink, root) ? true : undefined;
    });
    // nothing of the trace left before the wait was over
    expect(failedCallSeenAt! - t0).toBeGreaterThanOrEqual(waitMs - 1_000);

    // decided traces leave memory at once (the cache keeps the decision, not the spans), and a
    // span arriving after the decision is forwarded from the cache straight away
    expect(await telemetry(/^otelcol_processor_tail_sampling_sampling_traces_on_memory$/)).toBe(0);
    const late: TestSpan = {
      ...rootSpan,
      spanId: spanId(),
      parentSpanId: root,
      name: 'late',
      kind: 'internal',
    };
    const sentAt = Date.now();
    await send([late]);
    await eventually('the late span at the sink', 15_000, async () =>
      arrived(sink, late.spanId) ? true : undefined,
    );
    expect(Date.now() - sentAt).toBeLessThan(waitMs / 2);
    expect(
      await telemetry(
        /^otelcol_processor_tail_sampling_early_releases_from_cache_decision/,
        'sampled="true"',
      ),
    ).toBe(1);
  }, 300_000);
});
