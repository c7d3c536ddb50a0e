import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mintDebugToken } from '../../../../runtime/debug-token.ts';
import { secretValues } from '../../../support/preload-corpus.ts';
import {
  MAX_ROUTES,
  SERVICE,
  flushOnlyEnv,
  makeApp,
  makeLoggingApp,
  runApp,
  startReceiver,
  type Framework,
  type LogLibrary,
  type ModuleKind,
  type Receiver,
} from '../../../support/preload-harness.ts';

/** A stand-in Collector for one test, closed whatever the test's outcome. */
async function withReceiver(run: (receiver: Receiver) => Promise<void>) {
  const receiver = await startReceiver();
  try {
    await run(receiver);
  } finally {
    receiver.close();
  }
}

const LOG_FIELDS = [
  'timestamp',
  'level',
  'logger',
  'message',
  'service',
  'environment',
  'request_id',
  'trace_id',
  'span_id',
  'frontend',
];

// the frameworks route /orders/:id, which is the spec's /orders/{orderId}: one label either way
const VARIANTS: [Framework, ModuleKind, string][] = [
  ['http', 'esm', '/orders/{orderId}'],
  ['http', 'commonjs', '/orders/{orderId}'],
  ['express', 'esm', '/orders/{orderId}'],
  ['express', 'commonjs', '/orders/{orderId}'],
  ['fastify', 'esm', '/orders/{orderId}'],
];

describe.each(VARIANTS)('preload on %s (%s)', (framework, module, expectedRoute) => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver.close());

  it('adds request context headers, exports spans, metrics and logs on SIGTERM, then exits by the signal', async () => {
    const made = await makeApp(framework, module);
    const app = await runApp(made, flushOnlyEnv(receiver));
    const first = await app.request('/orders/42', {
      'x-request-id': 'req-abc.123:x',
      'x-frontend-id': 'web',
    });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-request-id')).toBe('req-abc.123:x');
    expect(first.headers.get('x-response-time')).toMatch(/^\d+\.\d{3}ms$/);
    const second = await app.request('/orders/43', {
      'x-request-id': 'bad id<script>',
      'x-frontend-id': 'evil',
    });
    const generated = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(second.headers.get('x-request-id')).toMatch(generated);
    const failed = await app.request('/boom');
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-request-id')).toMatch(generated);
    expect(failed.headers.get('x-request-id')).not.toBe(second.headers.get('x-request-id'));
    expect(receiver.bodies).toHaveLength(0);

    const exit = await app.stop('SIGTERM');
    expect(exit.signal).toBe('SIGTERM');

    const servers = receiver.spans().filter((s) => s.kind === 2);
    expect(servers).toHaveLength(3);
    const [order, other] = servers.sort((a, b) =>
      String(a.startTimeUnixNano).localeCompare(String(b.startTimeUnixNano)),
    );
    expect(order!.name).toBe(`GET ${expectedRoute}`);
    expect(order!.attributes).toMatchObject({
      'http.route': expectedRoute,
      request_id: 'req-abc.123:x',
      frontend: 'web',
    });
    expect(other!.attributes).toMatchObject({ frontend: 'unknown', 'http.response.status_code': 200 });
    const points = receiver.metricPoints('http.server.request.duration');
    expect(points.map((p) => p.attributes)).toContainEqual({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'http.route': expectedRoute,
      frontend: 'web',
    });
    for (const point of points) expect(Object.keys(point.attributes as object)).not.toContain('url.path');

    const records = receiver
      .logRecords()
      .filter((r) => (r.body as { stringValue: string }).stringValue.startsWith('order'));
    expect(records).toHaveLength(2);
    expect(records[0]!.traceId).toBeTruthy();
    const lines = app.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    const orderLine = lines.find((l) => String(l.message).startsWith('order 42'))!;
    for (const field of LOG_FIELDS) expect(orderLine[field]).toBeDefined();
    expect(orderLine).toMatchObject({
      service: SERVICE,
      environment: 'test',
      request_id: 'req-abc.123:x',
      frontend: 'web',
    });
    expect(orderLine.trace_id).toBe(order!.traceId);
    expect(String(orderLine.timestamp)).toMatch(/Z$/);
    // the handler that called console.log, and its line in the app's file
    const source = (await readFile(path.join(made.dir, made.file), 'utf8')).split('\n');
    expect(orderLine).toMatchObject({
      func_name: 'order',
      lineno: source.findIndex((l) => l.includes("console.log('order'")) + 1,
    });
    expect(JSON.stringify(lines)).not.toContain('hunter2-Sup3r');
  });
});

describe('preload on express (esm): redaction, debug mode, cardinality', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver.close());

  it('leaks none of the secret corpus into exported data or printed lines', async () => {
    const app = await runApp(await makeApp('express', 'esm'), flushOnlyEnv(receiver));
    await app.request(
      '/secrets?token=tok-9f8e7d6c5b4a3210&password=hunter2-Sup3r&email=alice.smith@example.com',
      {
        authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
        cookie: 'sid=sess-cookie-a1b2c3',
        'x-api-key': 'xak-0123456789',
        'proxy-authorization': 'Basic dXNlcjpwYXNzd29yZA==',
      },
    );
    await app.request('/users/bob@corp.example.org');
    await app.stop();
    const everything = [...receiver.bodies, ...app.stdout, ...app.stderr].join('\n');
    expect(receiver.logRecords().length).toBeGreaterThan(40);
    expect(secretValues().filter((secret) => everything.includes(secret))).toEqual([]);
  });

  it('a valid X-Debug-Token samples and logs debug for that request only; invalid ones are counted', async () => {
    const app = await runApp(await makeApp('express', 'esm'), flushOnlyEnv(receiver));
    const { token } = mintDebugToken('preload-test-secret', 5 * 60_000);
    await app.request('/debug', { 'x-debug-token': token, 'x-request-id': 'with-token' });
    await app.request('/debug', { 'x-request-id': 'without-token' });
    await app.request('/debug', { 'x-debug-token': `${token}tampered`, 'x-request-id': 'bad-token' });
    await app.stop();
    const debugLines = app.stdout
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === 'debug');
    expect(debugLines.map((l) => l.request_id)).toEqual(['with-token']);
    const span = receiver
      .spans()
      .find((s) => (s.attributes as Record<string, unknown>).request_id === 'with-token');
    expect((span!.attributes as Record<string, unknown>)['otelkit.debug']).toBe(true);
    const audit = receiver
      .logRecords()
      .filter((r) => (r.attributes as Record<string, unknown>)['log.class'] === 'audit');
    expect(audit.length).toBeGreaterThanOrEqual(1);
    const rejected = receiver.metricPoints('otelkit.debug_token.rejected');
    expect(rejected.map((p) => p.attributes)).toContainEqual({ reason: 'signature' });
  });

  it('10,000 distinct ids give a bounded number of route series', async () => {
    const receiver = await startReceiver();
    const app = await runApp(await makeApp('express', 'esm'), flushOnlyEnv(receiver));
    const letters = (n: number) => n.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]!);
    const paths = Array.from({ length: 10_000 }, (_, i) =>
      i % 2 ? `/items/${i}` : `/search/${letters(i + 1000)}`,
    );
    for (let at = 0; at < paths.length; at += 64) {
      await Promise.all(paths.slice(at, at + 64).map((p) => app.request(p)));
    }
    await app.stop();
    const routes = new Set(
      receiver
        .metricPoints('http.server.request.duration')
        .map((p) => (p.attributes as Record<string, unknown>)['http.route']),
    );
    expect(routes.size).toBeLessThanOrEqual(MAX_ROUTES + 1);
    expect(routes).toContain('/items/{id}');
    await receiver.close();
  });
});

describe('preload exporting while requests are served', () => {
  it('does not trace its own export requests as part of the request that filled the batch', async () => {
    await withReceiver(async (receiver) => {
      const app = await runApp(await makeApp('express', 'commonjs'), {
        ...flushOnlyEnv(receiver),
        // every span fills a batch, so each export starts inside a request's context
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1',
      });
      for (let i = 0; i < 5; i++) expect((await app.request(`/orders/${i}`)).status).toBe(200);
      await app.stop('SIGTERM');
      const spans = receiver.spans();
      expect(spans.filter((s) => s.kind === 2)).toHaveLength(5);
      expect(spans.filter((s) => s.kind === 3)).toEqual([]);
    });
  });
});

describe('preload with the default protocol', () => {
  it('exports traces, metrics and logs as OTLP protobuf over HTTP', async () => {
    await withReceiver(async (receiver) => {
      const env: Record<string, string> = flushOnlyEnv(receiver);
      delete env.OTEL_EXPORTER_OTLP_PROTOCOL;
      const app = await runApp(await makeApp('express', 'commonjs'), env);
      expect((await app.request('/orders/42', { 'x-request-id': 'req-proto-1' })).status).toBe(200);
      await app.stop('SIGTERM');
      const byPath = (signal: string) => receiver.requests.filter((r) => r.path === `/v1/${signal}`);
      for (const signal of ['traces', 'metrics', 'logs']) {
        expect(byPath(signal).length).toBeGreaterThan(0);
        for (const request of byPath(signal)) expect(request.contentType).toBe('application/x-protobuf');
      }
      // protobuf keeps strings as their UTF-8 bytes (the encoder itself is held byte-equal elsewhere)
      const traces = byPath('traces')
        .map((r) => r.text)
        .join('');
      expect(traces).toContain('GET /orders/{orderId}');
      expect(traces).toContain('req-proto-1');
      expect(
        byPath('metrics')
          .map((r) => r.text)
          .join(''),
      ).toContain('http.server.request.duration');
      expect(
        byPath('logs')
          .map((r) => r.text)
          .join(''),
      ).toContain('order');
    });
  });
});

describe('preload when a client leaves mid-request', () => {
  it('ends that request span as aborted, and later requests on other connections as usual', async () => {
    await withReceiver(async (receiver) => {
      const app = await runApp(await makeApp('express', 'commonjs'), flushOnlyEnv(receiver));
      await new Promise<void>((resolve) => {
        const request = http.get({ host: '127.0.0.1', port: app.port, path: '/slow' });
        request.on('error', () => resolve());
        setTimeout(() => {
          request.destroy();
          resolve();
        }, 50);
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await app.request('/orders/7')).status).toBe(200);
      await app.stop('SIGTERM');
      const servers = receiver.spans().filter((s) => s.kind === 2);
      const slow = servers.find((s) => s.name === 'GET /slow');
      expect(slow?.attributes).toMatchObject({ 'error.type': 'aborted', 'http.route': '/slow' });
      const order = servers.find((s) => s.name === 'GET /orders/{orderId}');
      expect(order?.attributes).toMatchObject({ 'http.response.status_code': 200 });
      expect(order?.attributes).not.toHaveProperty('error.type');
    });
  });
});

describe('preload when stdout and stderr are closed pipes', () => {
  it('exits on the write error as Node does, instead of looping on its own error logs', async () => {
    const app = await makeApp('http', 'commonjs');
    await writeFile(path.join(app.dir, 'chatty.cjs'), "setInterval(() => console.log('tick'), 5);\n");
    const child = spawn(process.execPath, [...app.preload, 'chatty.cjs'], {
      cwd: app.dir,
      env: { PATH: process.env.PATH, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // `node app | head -1` with stderr redirected into the same pipe
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    child.stdout!.destroy();
    child.stderr!.destroy();
    const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timeout);
    expect(code).toBe(1);
  });
});

describe('preload with the Collector unreachable', () => {
  it('starts, serves and exits on SIGTERM within the bounded flush', async () => {
    const app = await runApp(await makeApp('http', 'esm'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    for (let i = 0; i < 5; i++) expect((await app.request(`/orders/${i}`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await app.request('/orders/9')).status).toBe(200);
    const exit = await app.stop('SIGINT');
    expect(exit.signal).toBe('SIGINT');
    expect(exit.ms).toBeLessThan(5000);
    expect(app.stderr.filter((l) => l.includes('cannot export')).length).toBeLessThanOrEqual(1);
  });
});

const LOG_LIBRARIES: [LogLibrary, ModuleKind][] = [
  ['pino', 'commonjs'],
  ['pino', 'esm'],
  ['winston', 'commonjs'],
  ['winston', 'esm'],
];

describe.each(LOG_LIBRARIES)('%s output (%s)', (library, module) => {
  it('becomes the JSON lines of the brief, exported once as OTLP logs, redacted', async () => {
    const receiver = await startReceiver();
    const made = await makeLoggingApp(library, module);
    const app = await runApp(made, flushOnlyEnv(receiver));
    await app.request('/orders/42', { 'x-request-id': 'log-req-1', 'x-frontend-id': 'web' });
    const { token } = mintDebugToken('preload-test-secret', 5 * 60_000);
    await app.request('/orders/43', { 'x-request-id': 'log-req-debug', 'x-debug-token': token });
    await app.stop();
    const lines = [...app.stdout, ...app.stderr]
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const order = lines.find((l) => String(l.message).startsWith('order 42'))!;
    expect(order).toBeDefined();
    for (const field of LOG_FIELDS) expect(order[field]).toBeDefined();
    expect(order).toMatchObject({
      level: 'info',
      logger: 'orders',
      service: SERVICE,
      environment: 'test',
      request_id: 'log-req-1',
      frontend: 'web',
      // the standard's structured fields: `event` is the message, `source` the known frontend
      event: order.message,
      source: 'web',
      orderId: '42',
      password: '[REDACTED]',
    });
    expect(String(order.timestamp)).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    expect(lines.find((l) => String(l.message).startsWith('slow order'))).toMatchObject({ level: 'warning' });
    // the library's level drops debug records, except for the request with a valid debug token
    const debugLines = lines.filter((l) => String(l.message).startsWith('debug detail'));
    expect(debugLines).toEqual([
      expect.objectContaining({
        level: 'debug',
        logger: 'orders',
        message: 'debug detail for order 43',
        request_id: 'log-req-debug',
      }),
    ]);
    const debugRecords = receiver
      .logRecords()
      .filter((r) => String((r.body as { stringValue: string }).stringValue).startsWith('debug detail'));
    expect(
      debugRecords.map((r) => [r.severityText, (r.attributes as Record<string, unknown>).request_id]),
    ).toEqual([['DEBUG', 'log-req-debug']]);
    const server = receiver.spans().find((s) => s.kind === 2)!;
    expect(order.trace_id).toBe(server.traceId);
    const records = receiver
      .logRecords()
      .filter((r) => String((r.body as { stringValue: string }).stringValue).startsWith('order 42'));
    expect(records).toHaveLength(1);
    expect(records[0]!.traceId).toBe(server.traceId);
    // the standard's func_name and lineno: the app's call to the logger (in an anonymous request
    // handler), not the library's frames or the preload's
    const source = (await readFile(path.join(made.dir, made.file), 'utf8')).split('\n');
    const lineOf = (code: string) => source.findIndex((l) => l.includes(code)) + 1;
    expect(order).toMatchObject({ func_name: '<anonymous>', lineno: lineOf('log.info(') });
    expect(lines.find((l) => String(l.message).startsWith('slow order'))).toMatchObject({
      lineno: lineOf('log.warn('),
    });
    expect(debugLines[0]).toMatchObject({ lineno: lineOf('log.debug(') });
    expect(records[0]!.attributes).toMatchObject({
      'code.function.name': '<anonymous>',
      'code.line.number': lineOf('log.info('),
    });
    const everything = [...receiver.bodies, ...app.stdout, ...app.stderr].join('\n');
    expect(everything).not.toContain('hunter2-Sup3r');
    expect(everything).not.toContain('alice.smith@example.com');
    await receiver.close();
  });
});
