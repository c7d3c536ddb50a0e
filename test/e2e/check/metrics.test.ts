import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { findTool } from '../../../generator/validate/tools.ts';
import { REPO, cli, freePort, tempDir } from '../../support/helpers.ts';

const SPEC = path.join(REPO, 'examples/shop/otelkit.yaml');

/**
 * The resilience metrics of a checkout process that follows the standard (names, labels), in
 * Prometheus text as prometheus_client writes it. Executor gauges carry the dependency too, which the
 * generated pool alert reads.
 */
const CONFORMANT = `# HELP circuit_breaker_state Circuit breaker state (0=closed, 1=half-open, 2=open)
# TYPE circuit_breaker_state gauge
circuit_breaker_state{dependency="payment-gateway"} 0.0
# TYPE circuit_breaker_transitions_total counter
circuit_breaker_transitions_total{dependency="payment-gateway",from_state="closed",to_state="open"} 1.0
# TYPE retry_attempts_total counter
retry_attempts_total{dependency="payment-gateway",outcome="success"} 3.0
retry_attempts_total{dependency="payment-gateway",outcome="failure"} 1.0
# TYPE timeout_exceeded_total counter
timeout_exceeded_total{dependency="orders-db"} 0.0
timeout_exceeded_total{dependency="payment-gateway"} 2.0
# TYPE bulkhead_rejections_total counter
bulkhead_rejections_total{dependency="orders-db"} 0.0
# TYPE executor_active_workers gauge
executor_active_workers{pool_type="thread",dependency="orders-db"} 3.0
# TYPE executor_max_workers gauge
executor_max_workers{pool_type="thread",dependency="orders-db"} 10.0
# TYPE executor_pending_tasks gauge
executor_pending_tasks{pool_type="thread",dependency="orders-db"} 0.0
# TYPE semaphore_available gauge
semaphore_available{dependency="orders-db"} 17.0
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
`;

let server: http.Server;
let base: string;
const bodies = new Map<string, string>();

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const body = bodies.get(request.url ?? '');
    if (body === undefined) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const check = (pathName: string, body: string | undefined, service = 'checkout') => {
  if (body !== undefined) bodies.set(pathName, body);
  return cli(['check', 'metrics', `${base}${pathName}`, '--service', service, '--spec', SPEC]);
};

describe('otelkit check metrics', () => {
  it("passes a /metrics with every metric and label the service's alerts and dashboards read", async () => {
    const result = await check('/good/metrics', CONFORMANT);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(
      /^all \d+ metrics the generated alerts and dashboards read from checkout are at /m,
    );
  });

  it('names each absent metric and each absent label, with what reads it', async () => {
    const broken = CONFORMANT.split('\n')
      .filter((line) => !line.startsWith('circuit_breaker_state'))
      .map((line) =>
        line.replace(
          /^timeout_exceeded_total\{dependency="([^"]+)"\}/,
          'timeout_exceeded_total{target="$1"}',
        ),
      )
      .join('\n');
    const result = await check('/bad/metrics', broken);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')).toEqual([
      expect.stringMatching(
        /^missing metric circuit_breaker_state\{dependency\} \(read by alert CheckoutPaymentGatewayCircuitBreakerHalfOpen; alert CheckoutPaymentGatewayCircuitBreakerOpen; .*\)$/,
      ),
      expect.stringMatching(
        /^metric timeout_exceeded_total has no label dependency \(read by alert CheckoutOrdersDbTimeouts; /,
      ),
    ]);
    expect(result.stderr).toContain('2 of ');
  });

  it('fails (exit 1) when the endpoint cannot be read, and is bad usage (exit 2) for an unknown service', async () => {
    const unreadable = await check('/absent/metrics', undefined);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain('answered 404');
    const unknown = await check('/good/metrics', undefined, 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      '--service must name a service of the spec: storefront, checkout, fulfilment-worker',
    );
  });

  it('asks a service only for what its own alerts read; dashboards for any service do not make it fail', async () => {
    const result = await check(
      '/worker/metrics',
      'retry_attempts_total{dependency="orders-db"} 1\ntimeout_exceeded_total{dependency="orders-db"} 0\n',
      'fulfilment-worker',
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('not asked of fulfilment-worker');
    expect(result.stderr).toContain('circuit_breaker_state');
  });
});

describe('otelkit check metrics against a Prometheus server', () => {
  it("reads the service's series (by job) from the real Prometheus that scrapes it", async () => {
    const binary = await findTool('prometheus', process.env);
    if (!binary) throw new Error('no prometheus binary: run scripts/build-backends.sh prometheus');
    bodies.set('/checkout/metrics', CONFORMANT);
    bodies.set('/storefront/metrics', 'retry_attempts_total{dependency="checkout"} 1\n');
    const dir = await tempDir('check-metrics-prometheus');
    const target = new URL(base).host;
    await writeFile(
      path.join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: '1s' },
        scrape_configs: [
          {
            job_name: 'checkout',
            metrics_path: '/checkout/metrics',
            static_configs: [{ targets: [target] }],
          },
          // OTLP-style "<namespace>/<service>" job names select the service too
          {
            job_name: 'shop/storefront',
            metrics_path: '/storefront/metrics',
            static_configs: [{ targets: [target] }],
          },
        ],
      }),
    );
    const port = await freePort();
    const prometheus = spawn(
      binary,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ready = await fetch(`${url}/api/v1/query?query=count(up%3D%3D1)`)
          .then((r) => r.json() as Promise<{ data?: { result?: { value: [number, string] }[] } }>)
          .catch(() => undefined);
        if (ready?.data?.result?.[0]?.value[1] === '2') break;
        if (Date.now() > deadline) throw new Error('Prometheus scraped nothing within 60s');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const good = await cli(['check', 'metrics', url, '--service', 'checkout', '--spec', SPEC]);
      expect(good.stdout).toBe('');
      expect(good.code).toBe(0);
      const bad = await cli(['check', 'metrics', url, '--service', 'storefront', '--spec', SPEC]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(
        /^missing metric timeout_exceeded_total\{dependency\} \(read by alert Storefront/,
      );
      expect(bad.stdout).not.toContain('retry_attempts_total');
    } finally {
      prometheus.kill('SIGKILL');
    }
  }, 120_000);
});
