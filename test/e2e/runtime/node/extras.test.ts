import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Model } from '../../../../generator/model/model.ts';
import { RESILIENCE_METRICS } from '../../../../generator/model/conventions.ts';
import { loadSpec } from '../../../../generator/spec/load.ts';
import { serviceEnvTarget } from '../../../../generator/targets/service-env.ts';
import { RESILIENCE_METRIC_NAMES } from '../../../../runtime/node/instrument/resilience.ts';
import { REPO, freePort, tempDir } from '../../../support/helpers.ts';
import {
  appDirectory,
  SERVICE,
  startReceiver,
  testModel,
  writePreload,
  type ModuleKind,
  type Receiver,
} from '../../../support/preload-harness.ts';

/**
 * Health and readiness, opossum breakers and exception capture, each against a real app under the
 * preload, with a real failing HTTP dependency and a stand-in Collector receiving OTLP/JSON.
 */

const APP = `
const http = require('node:http');
const CircuitBreaker = require('opossum');
const dependency = process.env.DEPENDENCY_URL;
const callPayments = () => new Promise((resolve, reject) => {
  http.get(dependency, (res) => { res.resume(); res.statusCode >= 500 ? reject(new Error('payments ' + res.statusCode)) : resolve(res.statusCode); }).on('error', reject);
});
const breaker = new CircuitBreaker(callPayments, { name: 'payments', timeout: 1000, errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeout: 700 });
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/block') {
    const until = Date.now() + Number(url.searchParams.get('ms'));
    while (Date.now() < until) {}
    return res.end('blocked');
  }
  if (url.pathname === '/pay') {
    return breaker.fire().then(() => res.end('paid'), (error) => { res.statusCode = 502; res.end(error.message); });
  }
  if (url.pathname === '/reject') {
    Promise.reject(new Error('lost payment confirmation'));
    return res.end('rejected in the background');
  }
  res.end('ok');
});
process.on('SIGTERM', () => { console.log('draining'); setTimeout(() => server.close(() => process.exit(0)), 1500); });
// a slow start: the preload must report "starting" until the app listens
setTimeout(() => server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening ' + process.env.PORT)), 1200);
`;

/** The same app as an ES module: opossum is then patched through the ESM loader hook. */
const esmApp = () =>
  APP.replace(
    "const http = require('node:http');\nconst CircuitBreaker = require('opossum');",
    "import http from 'node:http';\nimport CircuitBreaker from 'opossum';",
  );

async function makeApp(adminPort: number, bind = '127.0.0.1', module: ModuleKind = 'commonjs') {
  const dir = await appDirectory('preload-extras', ['opossum'], {
    name: 'app',
    version: '1.4.2',
    private: true,
  });
  const file = module === 'esm' ? 'app.mjs' : 'app.cjs';
  await writeFile(path.join(dir, file), module === 'esm' ? esmApp() : APP);
  const base = testModel(module);
  const model = {
    ...base,
    services: [
      {
        ...base.services[0]!,
        kind: 'http',
        dependencies: [{ name: 'payments', kind: 'http', critical: true }],
        admin: { port: adminPort, bind, tokenEnv: 'ADMIN_TOKEN', metrics: true, eventLoopDelayMs: 200 },
      },
    ],
  } as unknown as Model;
  return { dir, file, preload: await writePreload(dir, model, module) };
}

function spawnApp(app: { dir: string; file: string; preload: string[] }, env: Record<string, string>) {
  const child = spawn(process.execPath, [...app.preload, app.file], {
    cwd: app.dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(...chunk.toString().split('\n').filter(Boolean)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout, stderr, exited };
}

async function get(port: number, pathName: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: pathName, headers, agent: false },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      },
    );
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error(`GET ${pathName} timed out`)));
  });
}

const readyz = async (port: number) => {
  const { status, body } = await get(port, '/readyz');
  const { reason } = JSON.parse(body) as { status: string; reason?: string };
  return reason === undefined ? { status } : { status, reason };
};

async function until<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch {
      // the endpoint may not be up yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A dependency whose health the test switches. */
async function startDependency() {
  let healthy = false;
  const server = http.createServer((_request, response) => {
    response.statusCode = healthy ? 200 : 503;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/charge`,
    setHealthy: (value: boolean) => void (healthy = value),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('preload admin endpoint and opossum breakers', () => {
  let receiver: Receiver;
  let dependency: Awaited<ReturnType<typeof startDependency>>;
  beforeAll(async () => {
    receiver = await startReceiver();
    dependency = await startDependency();
  });
  afterAll(async () => {
    await receiver.close();
    await dependency.close();
  });

  it('reports starting, ready, a blocked loop, an open critical breaker and draining, and exports the breaker telemetry', async () => {
    const [adminPort, appPort] = [await freePort(), await freePort()];
    const made = await makeApp(adminPort);
    const app = spawnApp(made, {
      PORT: String(appPort),
      DEPENDENCY_URL: dependency.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    const sequence: string[] = [];
    const note = (probe: { status: number; reason?: string }) =>
      void sequence.push(`${probe.status}${probe.reason ? ` ${probe.reason}` : ''}`);
    try {
      note(
        await until(
          'the admin endpoint',
          () => readyz(adminPort),
          (r) => r.status === 503,
        ),
      );
      expect(sequence[0]).toBe('503 starting');
      expect((await get(adminPort, '/livez')).status).toBe(200);
      note(
        await until(
          'readiness after listen',
          () => readyz(adminPort),
          (r) => r.status === 200,
        ),
      );

      const details = JSON.parse((await get(adminPort, '/health/detailed')).body) as Record<string, unknown>;
      expect(details).toMatchObject({
        status: 'ready',
        service: SERVICE,
        version: '1.4.2',
        node: process.version,
      });
      expect(details.event_loop).toHaveProperty('utilization');
      expect(details.memory_mib).toHaveProperty('heap_used');
      expect(typeof details.active_handles).toBe('number');

      // a blocked event loop: not ready while the delay stays high, ready again once it falls
      await get(appPort, '/block?ms=700');
      const blocked = await readyz(adminPort);
      note(blocked);
      expect(blocked.status).toBe(503);
      expect(blocked.reason).toMatch(/^event loop delay \d+ ms is above 200 ms$/);
      note(
        await until(
          'readiness after the block',
          () => readyz(adminPort),
          (r) => r.status === 200,
        ),
      );

      // the critical dependency fails: the breaker opens and readiness follows it
      for (let i = 0; i < 4; i++) await get(appPort, '/pay');
      const open = await readyz(adminPort);
      note(open);
      expect(open).toMatchObject({
        status: 503,
        reason: 'circuit breaker for critical dependency payments is open',
      });
      const openDetails = JSON.parse((await get(adminPort, '/health/detailed')).body) as {
        circuit_breakers: object;
      };
      expect(openDetails.circuit_breakers).toEqual({ payments: 'open' });
      // the standard's encoding: 0 closed, 1 half-open, 2 open
      expect((await get(adminPort, '/metrics')).body).toMatch(
        /circuit_breaker_state\{[^}]*dependency="payments"[^}]*\} 2\n/,
      );
      expect((await get(appPort, '/pay')).status).toBe(502);

      // it recovers: after the reset timeout one trial call half-opens the breaker and closes it
      dependency.setHealthy(true);
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect((await get(appPort, '/pay')).status).toBe(200);
      note(
        await until(
          'readiness after the breaker closes',
          () => readyz(adminPort),
          (r) => r.status === 200,
        ),
      );

      const metricsText = (await get(adminPort, '/metrics')).body;
      expect(metricsText).toMatch(/circuit_breaker_state\{[^}]*dependency="payments"[^}]*\} 0/);
      expect(metricsText).toMatch(
        /circuit_breaker_transitions_total\{[^}]*from_state="closed"[^}]*to_state="open"[^}]*\} 1/,
      );

      app.child.kill('SIGTERM');
      const draining = await until(
        'draining',
        () => readyz(adminPort),
        (r) => r.status === 503,
      );
      note(draining);
      expect(draining.reason).toBe('shutting down');
      expect(await app.exited).toEqual({ code: 0, signal: null });
    } finally {
      app.child.kill('SIGKILL');
    }
    process.stdout.write(`/readyz sequence: ${sequence.join(' → ')}\n`);
    expect(sequence).toEqual(
      expect.arrayContaining([
        '503 starting',
        '200',
        '503 shutting down',
        '503 circuit breaker for critical dependency payments is open',
      ]),
    );

    const transitions = receiver
      .metricPoints(RESILIENCE_METRIC_NAMES.transitions)
      .map(
        (point) =>
          `${String((point.attributes as Record<string, unknown>).from_state)}→${String((point.attributes as Record<string, unknown>).to_state)}=${String(point.asInt ?? point.asDouble)}`,
      )
      .sort();
    process.stdout.write(
      `circuit_breaker_transitions_total{dependency="payments"}: ${transitions.join(', ')}\n`,
    );
    expect(transitions).toEqual(['closed→open=1', 'half_open→closed=1', 'open→half_open=1']);
    const state = receiver.metricPoints(RESILIENCE_METRIC_NAMES.state);
    expect(
      state.map((point) => [
        (point.attributes as Record<string, unknown>).dependency,
        point.asInt ?? point.asDouble,
      ]),
    ).toEqual([['payments', 0]]);
    const events = receiver
      .logRecords()
      .filter((record) => (record.attributes as Record<string, unknown>).resilience_event)
      .map((record) => {
        const attributes = record.attributes as Record<string, unknown>;
        return `${String(record.severityText)} ${String(attributes.resilience_event)} ${String(attributes.dependency)}`;
      });
    expect(events).toEqual(
      expect.arrayContaining([
        'ERROR circuit_breaker_opened payments',
        'WARNING circuit_breaker_half_open payments',
        'INFO circuit_breaker_closed payments',
        'WARNING circuit_breaker_rejected payments',
      ]),
    );
  });

  it('protects details and metrics with the bearer token off loopback, never the probes', async () => {
    const [adminPort, appPort] = [await freePort(), await freePort()];
    const made = await makeApp(adminPort, '0.0.0.0');
    const app = spawnApp(made, {
      PORT: String(appPort),
      DEPENDENCY_URL: dependency.url,
      ADMIN_TOKEN: 'admin-secret-token',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    try {
      await until(
        'readiness',
        () => readyz(adminPort),
        (r) => r.status === 200,
      );
      expect((await get(adminPort, '/livez')).status).toBe(200);
      expect((await get(adminPort, '/health/detailed')).status).toBe(401);
      expect((await get(adminPort, '/metrics', { authorization: 'Bearer wrong-token-value' })).status).toBe(
        401,
      );
      expect(
        (await get(adminPort, '/health/detailed', { authorization: 'Bearer admin-secret-token' })).status,
      ).toBe(200);
      expect((await get(adminPort, '/metrics', { authorization: 'Bearer admin-secret-token' })).status).toBe(
        200,
      );
    } finally {
      app.child.kill('SIGKILL');
    }
  });
});

describe('preload admin endpoint in an ES module app', () => {
  it('sees opossum imported as an ES module open its breaker and fail readiness', async () => {
    const receiver = await startReceiver();
    const dependency = await startDependency();
    const [adminPort, appPort] = [await freePort(), await freePort()];
    const made = await makeApp(adminPort, '127.0.0.1', 'esm');
    const app = spawnApp(made, {
      PORT: String(appPort),
      DEPENDENCY_URL: dependency.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    try {
      await until(
        'readiness',
        () => readyz(adminPort),
        (r) => r.status === 200,
      );
      for (let i = 0; i < 4; i++) await get(appPort, '/pay');
      expect(await readyz(adminPort)).toEqual({
        status: 503,
        reason: 'circuit breaker for critical dependency payments is open',
      });
      const details = JSON.parse((await get(adminPort, '/health/detailed')).body) as {
        circuit_breakers: object;
      };
      expect(details.circuit_breakers).toEqual({ payments: 'open' });
    } finally {
      app.child.kill('SIGKILL');
      await receiver.close();
      await dependency.close();
    }
  });
});

describe('preload exception capture', () => {
  it('logs, records and exports an unhandled rejection, then exits as Node would', async () => {
    const receiver = await startReceiver();
    const [adminPort, appPort] = [await freePort(), await freePort()];
    const made = await makeApp(adminPort);
    const app = spawnApp(made, {
      PORT: String(appPort),
      DEPENDENCY_URL: 'http://127.0.0.1:9/',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      OTEL_BLRP_SCHEDULE_DELAY: '600000',
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    try {
      await until(
        'readiness',
        () => readyz(adminPort),
        (r) => r.status === 200,
      );
      await get(appPort, '/reject', { 'x-request-id': 'req-unhandled-1' });
      const { code } = await app.exited;
      expect(code).toBe(1);
      expect(app.stderr.join('\n')).toContain('Error: lost payment confirmation');
      const line = app.stdout
        .concat(app.stderr)
        .map((text) => {
          try {
            return JSON.parse(text) as Record<string, unknown>;
          } catch {
            return undefined;
          }
        })
        .find((entry) => entry?.logger === 'otelkit.exceptions');
      expect(line).toMatchObject({
        level: 'error',
        message: 'unhandled rejection: lost payment confirmation',
        exception_type: 'Error',
      });
      expect(String(line!.exception_stacktrace)).toContain('app.cjs');
      const record = receiver
        .logRecords()
        .find((r) =>
          String((r.body as { stringValue?: string } | undefined)?.stringValue ?? '').startsWith(
            'unhandled rejection',
          ),
        );
      expect(record).toBeDefined();
      const counted = receiver.metricPoints('exceptions_total');
      expect(counted.map((point) => point.attributes)).toEqual([
        { 'exception.type': 'Error', origin: 'unhandled_rejection' },
      ]);
      process.stdout.write(`unhandled rejection log line: ${JSON.stringify(line)}\n`);
      // the resource: service identity, and host attributes read without starting the thread pool
      const traces = receiver.requests.find((request) => request.path === '/v1/traces');
      const resource = (
        JSON.parse(traces!.text) as { resourceSpans: { resource: { attributes: { key: string }[] } }[] }
      ).resourceSpans[0]!.resource;
      const keys = resource.attributes.map((attribute) => attribute.key);
      expect(keys).toEqual(
        expect.arrayContaining([
          'service.name',
          'deployment.environment.name',
          'host.name',
          'host.arch',
          'process.pid',
        ]),
      );
      const hostId = resource.attributes.find((attribute) => attribute.key === 'host.id') as
        { value: { stringValue: string } } | undefined;
      const machineId = existsSync('/etc/machine-id')
        ? readFileSync('/etc/machine-id', 'utf8').trim()
        : undefined;
      expect(hostId?.value.stringValue).toBe(machineId || undefined);
    } finally {
      app.child.kill('SIGKILL');
      await receiver.close();
    }
  });
});

describe('resilience metric names', () => {
  it('are the names the dashboards and alerts read', () => {
    for (const name of Object.values(RESILIENCE_METRIC_NAMES)) expect(RESILIENCE_METRICS).toContain(name);
  });
});

describe('env file for a service without the preload', () => {
  it('configures a plain OpenTelemetry SDK process, which exports to the endpoint with the service name', async () => {
    const receiver = await startReceiver();
    const dir = await tempDir('env-file-sdk');
    // a Go service's file, as a plain SDK reads it (the shop's worker is Python, whose file is the bootstrap's)
    const { model } = await loadSpec(path.join(REPO, 'examples', 'gateway', 'otelkit.yaml'));
    const envFile = String(
      serviceEnvTarget.generate(model).find((file) => file.path === 'preload/reconciler.env')!.content,
    );
    const fromFile = Object.fromEntries(
      envFile
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    await writeFile(
      path.join(dir, 'worker.cjs'),
      `
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { envDetector, hostDetector, osDetector, processDetector } = require('@opentelemetry/resources');
// the resource detectors are named so nothing probes cloud metadata addresses; everything else comes from OTEL_*
const sdk = new NodeSDK({ resourceDetectors: [envDetector, hostDetector, osDetector, processDetector], instrumentations: [] });
sdk.start();
const { trace } = require('@opentelemetry/api');
trace.getTracer('worker').startActiveSpan('process job', (span) => span.end());
sdk.shutdown().then(() => process.exit(0));
`,
    );
    const child = spawn(process.execPath, [path.join(dir, 'worker.cjs')], {
      cwd: REPO,
      // only the env file, with the endpoint pointed at the stand-in Collector
      env: {
        PATH: process.env.PATH,
        NODE_PATH: path.join(REPO, 'node_modules'),
        ...fromFile,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_NODE_RESOURCE_DETECTORS: 'none',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await receiver.close();
    expect(code).toBe(0);
    expect(fromFile.OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/protobuf');
    const traces = receiver.requests.filter((request) => request.path === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.contentType).toBe('application/x-protobuf');
    // protobuf keeps strings as UTF-8 bytes: the service name and the span name are in the body
    expect(traces[0]!.text).toContain('reconciler');
    expect(traces[0]!.text).toContain('process job');
    expect(traces[0]!.text).toContain('finance');
  });
});
