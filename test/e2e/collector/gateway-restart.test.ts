/**
 * Gateway mode with real Collector processes on loopback: agent → gateway → a sink standing in
 * for Tempo. Spans sent while the gateway is down, through an agent restart as well, arrive once
 * the gateway is back: the agent's load-balancing exporter keeps them on disk and retries.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { collectorTarget } from '../../../generator/targets/collector.ts';
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
} from '../../support/processes.ts';
import { collectorFor, exampleModel } from '../../support/collector-spec.ts';

const started: Proc[] = [];
afterAll(async () => {
  for (const proc of started.reverse()) await proc.stop();
});

const errorSpan = (service: string): TestSpan => ({
  service,
  traceId: traceId(),
  spanId: spanId(),
  name: 'GET /accounts/{id}',
  kind: 'server',
  error: true, // tail sampling keeps every error trace
  attributes: { 'http.request.method': 'GET', 'http.route': '/accounts/{id}' },
});

describe('agent → gateway (real Collectors)', () => {
  it('delivers spans sent while the gateway was down, across an agent restart', async () => {
    // a 1 s wait and no resilience budgets: the shortest tail-sampling decision the spec allows
    const model = await exampleModel('gateway', (spec) => {
      for (const service of spec.services)
        for (const dependency of service.dependencies ?? []) delete dependency.resilience;
      spec.signals.traces.sampling.decision_wait = '1s';
    });
    const binary = await collectorFor(model, 'gateway');
    const [agentConfig, gatewayConfig] = collectorTarget.generate(model).map((a) => a.content);
    const sink = await startSink(binary);
    started.push(sink);
    const dead = await deadEndpoint();
    const gatewayPorts = await collectorPorts();
    const gateway = onLoopback(gatewayConfig, {
      ports: gatewayPorts,
      queueDir: await tempDir('gateway-queue'),
      exporters: {
        'otlp_grpc/tempo': (e) => (e.endpoint = sink.endpoint),
        'otlp_http/prometheus': (e) => (e.metrics_endpoint = `http://${dead}/api/v1/otlp/v1/metrics`),
        'otlp_http/loki': (e) => (e.logs_endpoint = `http://${dead}/otlp/v1/logs`),
      },
    });
    const agentPorts = await collectorPorts();
    const agentQueue = await tempDir('agent-queue');
    const agent = onLoopback(agentConfig, {
      ports: agentPorts,
      queueDir: agentQueue,
      exporters: {
        // the DNS resolver, given the gateway's address instead of its compose host name
        load_balancing: (e) => {
          e.resolver.dns.hostname = '127.0.0.1';
          e.resolver.dns.port = String(gatewayPorts.otlpGrpc);
        },
        'otlp_grpc/gateway': (e) => (e.endpoint = `127.0.0.1:${gatewayPorts.otlpGrpc}`),
      },
    });
    const service = model.services[0]!.name;
    const arrived = (span: TestSpan) => sink.spans().some((s) => s.spanId === span.spanId);

    let gatewayProc = await startCollector(binary, gateway, 'gateway');
    started.push(gatewayProc);
    let agentProc = await startCollector(binary, agent, 'agent');
    started.push(agentProc);
    const before = errorSpan(service);
    await sendSpans(agentPorts.otlpHttp, [before]);
    await eventually('a span through agent and gateway', 60_000, async () =>
      arrived(before) ? true : undefined,
    );

    await gatewayProc.stop();
    const during = [errorSpan(service), errorSpan(service), errorSpan(service)];
    await sendSpans(agentPorts.otlpHttp, during);
    // give the agent time to try, fail and queue them, then restart it while the gateway is down
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await agentProc.stop();
    agentProc = await startCollector(binary, agent, 'agent-restarted');
    started.push(agentProc);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(during.filter(arrived)).toEqual([]);

    gatewayProc = await startCollector(binary, gateway, 'gateway-restarted');
    started.push(gatewayProc);
    await eventually('the spans sent during the outage', 120_000, async () =>
      during.every(arrived) ? true : undefined,
    );
  }, 300_000);
});
