/**
 * A service that goes quiet must read as absent: the span metrics connector stops exporting its
 * series, Prometheus gets no more samples, and the generated TelemetryMissing expression returns
 * the service once its window has passed. Real Collector, real Prometheus with the generated
 * config and rules; only the spec's scrape interval is shortened, as a user may set it.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { SPAN_METRICS } from '../../../generator/model/conventions.ts';
import { alertRulesTarget } from '../../../generator/targets/alert-rules.ts';
import { collectorTarget, spanMetricsExpirationMs } from '../../../generator/targets/collector.ts';
import { prometheusConfig } from '../../../generator/targets/prometheus.ts';
import { tempDir } from '../../support/helpers.ts';
import { sendSpans, spanId, traceId } from '../../support/otlp.ts';
import {
  collectorPorts,
  deadEndpoint,
  eventually,
  onLoopback,
  startCollector,
  startPrometheus,
  type Proc,
} from '../../support/processes.ts';
import { collectorFor, exampleModel } from '../../support/collector-spec.ts';

const SERVICE = 'storefront';
const started: Proc[] = [];
afterAll(async () => {
  for (const proc of started.reverse()) await proc.stop();
});

describe('span metrics of a service that goes quiet (real Collector and Prometheus)', () => {
  it('stop being exported, and TelemetryMissing then returns the service', async () => {
    const model = await exampleModel('shop', (spec) => {
      spec.signals.metrics.scrape_interval = '1s';
    });
    const expirationMs = spanMetricsExpirationMs(model);
    const rules = alertRulesTarget.generate(model);
    const alert = rules
      .flatMap((file) => (file.content as { groups: { rules: { alert?: string; expr: string }[] }[] }).groups)
      .flatMap((group) => group.rules)
      .find((rule) => rule.alert === 'StorefrontTelemetryMissing')!;
    const windowSeconds = Number(/\[(\d+)m\]/.exec(alert.expr)![1]) * 60;

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
    const collector = await startCollector(await collectorFor(model, 'shop'), config, 'expiry');
    started.push(collector);

    const series = `${SPAN_METRICS.calls}{service_name="${SERVICE}"}`;
    for (let i = 0; i < 5; i++) {
      await sendSpans(ports.otlpHttp, [
        {
          service: SERVICE,
          traceId: traceId(),
          spanId: spanId(),
          name: 'GET /products',
          kind: 'server',
          attributes: {
            'http.request.method': 'GET',
            'url.path': '/products',
            'http.response.status_code': 200,
          },
        },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await eventually('span metrics in Prometheus', 60_000, async () =>
      (await prometheus.query(series)).length > 0 ? true : undefined,
    );
    const lastSpanAt = Date.now() / 1000;

    // the last sample stops moving: the Collector still runs but exports nothing for the service
    const lastSample = await eventually('the series to stop', expirationMs + 60_000, async () => {
      const [sample] = await prometheus.query(`max(timestamp(${series}))`);
      const at = Number(sample?.value[1]);
      return Date.now() / 1000 - at > 5 ? at : undefined;
    });
    expect(collector.exited()).toBe(false);
    expect(lastSample - lastSpanAt).toBeLessThan(expirationMs / 1000 + 5);

    // the rule as Prometheus evaluates it: nothing while the window still holds samples, the
    // service once it holds none (no sample can arrive in between: the series has stopped)
    expect(await prometheus.query(alert.expr, lastSample + 60)).toEqual([]);
    const missing = await prometheus.query(alert.expr, lastSample + windowSeconds + 1);
    expect(missing.map((r) => r.metric.service_name)).toEqual([SERVICE]);
  }, 600_000);
});
