/**
 * The service map's numbers with tail sampling on: real Collector → real Tempo (service graphs
 * from its metrics generator) → real Prometheus by remote write. Errors are kept at 100 % and the
 * rest at the base rate, yet the map's request count and error share follow the traffic.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { collectorTarget } from '../../../generator/targets/collector.ts';
import { prometheusConfig } from '../../../generator/targets/prometheus.ts';
import { tempoConfig } from '../../../generator/targets/tempo.ts';
import { tempDir } from '../../support/helpers.ts';
import { sendSpans, spanId, traceId, type TestSpan } from '../../support/otlp.ts';
import {
  collectorPorts,
  deadEndpoint,
  eventually,
  onLoopback,
  startCollector,
  startPrometheus,
  startTempo,
  type Proc,
} from '../../support/processes.ts';
import { collectorFor, exampleModel } from '../../support/collector-spec.ts';

const started: Proc[] = [];
afterAll(async () => {
  for (const proc of started.reverse()) await proc.stop();
});

describe('service map under tail sampling (real Collector, Tempo and Prometheus)', () => {
  it('counts base-rate traces at their weight, so error shares stay true', async () => {
    const model = await exampleModel('shop', (spec) => {
      for (const service of spec.services)
        for (const dependency of service.dependencies ?? []) delete dependency.resilience;
      spec.signals.traces.sampling.decision_wait = '1s';
    });
    const prometheus = await startPrometheus(prometheusConfig(model) as Record<string, unknown>, []);
    started.push(prometheus);
    const tempo = await startTempo(tempoConfig(model) as Record<string, unknown>, prometheus.url);
    started.push(tempo);
    const ports = await collectorPorts();
    const dead = await deadEndpoint();
    const config = onLoopback(collectorTarget.generate(model)[0]!.content, {
      ports,
      queueDir: await tempDir('queue'),
      exporters: {
        'otlp_grpc/tempo': (e) => (e.endpoint = tempo.endpoint),
        'otlp_http/prometheus': (e) => (e.metrics_endpoint = `http://${dead}/api/v1/otlp/v1/metrics`),
        'otlp_http/loki': (e) => (e.logs_endpoint = `http://${dead}/otlp/v1/logs`),
      },
    });
    started.push(await startCollector(await collectorFor(model, 'shop'), config, 'service-graph'));

    // storefront → checkout: 600 requests, 30 of them failed (5 %)
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
    const edges = [
      ...Array.from({ length: 570 }, () => edge(false)),
      ...Array.from({ length: 30 }, () => edge(true)),
    ];
    for (let i = 0; i < edges.length; i += 50) await sendSpans(ports.otlpHttp, edges.slice(i, i + 50).flat());

    const selector = '{client="storefront", server="checkout"}';
    const failed = await eventually('all failed requests on the map', 120_000, async () => {
      const [sample] = await prometheus.query(`sum(traces_service_graph_request_failed_total${selector})`);
      return Number(sample?.value[1]) >= 30 ? Number(sample!.value[1]) : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const [total] = await prometheus.query(`sum(traces_service_graph_request_total${selector})`);
    const requests = Number(total!.value[1]);
    expect(failed).toBe(30);
    // about 600 (30 + ~57 kept ordinary requests × 10); unweighted it would be about 87, a 34 % error share
    expect(requests).toBeGreaterThan(300);
    expect(requests).toBeLessThan(1000);
    expect(failed / requests).toBeLessThan(0.1);
  }, 300_000);
});
