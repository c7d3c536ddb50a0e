import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkLogs } from '../../../../generator/check/logs.ts';
import { RESILIENCE_EVENTS } from '../../../../runtime/standard.ts';
import { secretValues } from '../../../support/preload-corpus.ts';
import { startProtobufReceiver, type ProtobufReceiver } from '../../../support/otlp-receiver.ts';
import {
  FRONTENDS,
  SERVICE,
  appDirectory,
  jsonLines,
  pythonModel,
  pythonVenv,
  runPython,
  type PythonApp,
} from './harness.ts';

/**
 * The Python bootstrap under the real OpenTelemetry agent, with real FastAPI + uvicorn and Flask apps
 * from PyPI (test/e2e/runtime/python/requirements.txt), run by the README's commands from the generated env file.
 */

const LOG_FIELDS = [
  'timestamp',
  'level',
  'logger',
  'message',
  'event',
  'service',
  'environment',
  'request_id',
  'trace_id',
  'span_id',
  'frontend',
];
const GENERATED = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SERVER = 2;

interface Variant {
  name: string;
  app: 'fastapi_app.py' | 'flask_app.py';
  command: string[];
  route: string;
  signal: NodeJS.Signals;
}

const VARIANTS: Variant[] = [
  {
    name: 'FastAPI on uvicorn (opentelemetry-instrument uvicorn app:app)',
    app: 'fastapi_app.py',
    command: [
      'opentelemetry-instrument',
      'uvicorn',
      'fastapi_app:app',
      '--host',
      '127.0.0.1',
      '--port',
      '$PORT',
    ],
    route: '/orders/{order_id}',
    signal: 'SIGTERM',
  },
  {
    name: 'Flask (opentelemetry-instrument python app.py)',
    app: 'flask_app.py',
    command: ['opentelemetry-instrument', 'python', 'flask_app.py'],
    route: '/orders/<order_id>',
    signal: 'SIGTERM',
  },
  {
    // the env file alone: preload/python/sitecustomize.py starts the agent
    name: 'Flask (python app.py, no opentelemetry-instrument)',
    app: 'flask_app.py',
    command: ['python', 'flask_app.py'],
    route: '/orders/<order_id>',
    signal: 'SIGTERM',
  },
];

beforeAll(() => {
  pythonVenv();
}, 600_000);

const instanceIds: unknown[] = [];

/** A downstream service on loopback that records the X-Request-ID each call brought. */
async function startDownstream() {
  const seen = new Map<string, string | undefined>();
  const server = http.createServer((request, response) => {
    seen.set(request.url ?? '', request.headers['x-request-id'] as string | undefined);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe.each(VARIANTS)('$name', ({ app: file, command, route, signal }) => {
  let receiver: ProtobufReceiver;
  let app: PythonApp;
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  const responses: Record<string, { status: number; headers: Headers; body: string }> = {};

  let downstream: Awaited<ReturnType<typeof startDownstream>>;

  beforeAll(async () => {
    receiver = await startProtobufReceiver();
    downstream = await startDownstream();
    const { dir, env } = await appDirectory(file);
    // nothing is exported before the app stops: what arrives proves the flush at exit
    app = await runPython(dir, command, {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      OTEL_BLRP_SCHEDULE_DELAY: '600000',
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    responses.given = await app.request('/orders/42', {
      'x-request-id': 'req-abc.123:x',
      'x-frontend-id': 'web',
    });
    responses.invalid = await app.request('/orders/43', {
      'x-request-id': 'bad id<script>',
      'x-frontend-id': 'evil',
    });
    responses.long = await app.request('/orders/44', { 'x-request-id': 'a'.repeat(129) });
    responses.boom = await app.request('/boom');
    responses.health = await app.request('/healthz', { 'x-request-id': 'health-probe' });
    responses.secrets = await app.request(
      '/secrets?token=tok-9f8e7d6c5b4a3210&password=hunter2-Sup3r&email=alice.smith@example.com',
      {
        authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
        cookie: 'sid=sess-cookie-a1b2c3',
        'x-api-key': 'xak-0123456789',
        'proxy-authorization': 'Basic dXNlcjpwYXNzd29yZA==',
      },
    );
    if (file === 'fastapi_app.py') responses.resilience = await app.request('/resilience');
    responses.pools = await app.request('/pools', { 'x-request-id': 'req-pools-1', 'x-frontend-id': 'web' });
    responses.bulkhead = await app.request('/bulkhead');
    responses.outbound = await app.request(`/outbound?to=${encodeURIComponent(downstream.url)}`, {
      'x-request-id': 'req-outbound-1',
    });
    expect(receiver.bodies).toHaveLength(0);
    exit = await app.stop(signal);
    await receiver.close();
    await downstream.close();
  }, 120_000);
  afterAll(() => receiver?.close());

  it('flushes spans, metrics and logs on SIGTERM, then ends by the signal', () => {
    expect(exit.signal).toBe(signal);
    expect(new Set(receiver.requests.map((r) => r.path))).toEqual(
      new Set(['/v1/traces', '/v1/metrics', '/v1/logs']),
    );
    for (const request of receiver.requests) expect(request.contentType).toBe('application/x-protobuf');
  });

  it('forwards X-Request-ID on outbound calls (requests, httpx, from pool workers too), keeping one the app set itself', () => {
    expect(responses.outbound!.status).toBe(200);
    const expected =
      file === 'fastapi_app.py'
        ? {
            '/httpx-async': 'req-outbound-1',
            '/httpx': 'req-outbound-1',
            '/requests-thread': 'req-outbound-1',
            '/requests-pool': 'req-outbound-1',
            '/requests-default-executor': 'req-outbound-1',
            '/own-id': 'set-by-the-app',
          }
        : { '/requests': 'req-outbound-1', '/requests-pool': 'req-outbound-1' };
    expect(Object.fromEntries(downstream.seen)).toEqual(expected);
  });

  it('accepts or generates X-Request-ID, echoes it, and adds X-Response-Time, the 500 too', () => {
    expect(responses.given!.status).toBe(200);
    expect(responses.given!.headers.get('x-request-id')).toBe('req-abc.123:x');
    expect(responses.given!.headers.get('x-response-time')).toMatch(/^\d+\.\d{3}ms$/);
    expect(responses.invalid!.headers.get('x-request-id')).toMatch(GENERATED);
    expect(responses.long!.headers.get('x-request-id')).toMatch(GENERATED);
    expect(responses.boom!.status).toBe(500);
    expect(responses.boom!.headers.get('x-request-id')).toMatch(GENERATED);
    expect(responses.boom!.headers.get('x-response-time')).toMatch(/^\d+\.\d{3}ms$/);
    expect(responses.boom!.headers.get('x-request-id')).not.toBe(
      responses.invalid!.headers.get('x-request-id'),
    );
  });

  it('exports server spans with the route template, request_id and the allowed frontend only', () => {
    const servers = receiver.spans().filter((s) => s.kind === SERVER);
    const order = servers.find(
      (s) => (s.attributes as Record<string, unknown>).request_id === 'req-abc.123:x',
    );
    expect(order).toBeDefined();
    expect(order!.name).toBe(`GET ${route}`);
    expect(order!.attributes).toMatchObject({
      'http.route': route,
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      frontend: 'web',
    });
    const evil = servers.find(
      (s) =>
        (s.attributes as Record<string, unknown>).request_id ===
        responses.invalid!.headers.get('x-request-id'),
    );
    expect(evil!.attributes).toMatchObject({ frontend: 'unknown' });
    expect(FRONTENDS).not.toContain('evil');
    const boom = servers.find((s) => (s.attributes as Record<string, unknown>)['http.route'] === '/boom');
    expect(boom!.attributes).toMatchObject({ 'http.response.status_code': 500 });
  });

  it('leaves the health route untraced and out of the request metrics', () => {
    const spans = receiver.spans();
    expect(spans.length).toBeGreaterThan(0);
    for (const span of spans) {
      expect(String(span.name)).not.toContain('healthz');
      expect(JSON.stringify(span.attributes)).not.toContain('healthz');
    }
    const points = receiver.metricPoints('http.server.request.duration');
    expect(points.map((p) => (p.attributes as Record<string, unknown>)['http.route'])).toContain(route);
    for (const point of points) expect(JSON.stringify(point.attributes)).not.toContain('healthz');
    // the health response still carries the request context
    expect(responses.health!.headers.get('x-request-id')).toBe('health-probe');
  });

  it('prints JSON lines in the standard schema from logging and structlog, and exports each once over OTLP', () => {
    const server = receiver
      .spans()
      .find((s) => (s.attributes as Record<string, unknown>).request_id === 'req-abc.123:x')!;
    const lines = jsonLines(app);
    const order = lines.find((l) => l.message === 'order 42 for [REDACTED:email]');
    expect(order).toBeDefined();
    for (const field of LOG_FIELDS) expect(order![field]).toBeDefined();
    expect(order).toMatchObject({
      level: 'info',
      logger: 'orders',
      event: 'order 42 for [REDACTED:email]',
      service: SERVICE,
      environment: 'test',
      request_id: 'req-abc.123:x',
      frontend: 'web',
      source: 'web',
      orderId: '42',
      password: '[REDACTED]',
      trace_id: server.traceId,
    });
    expect(typeof order!.func_name).toBe('string');
    expect(typeof order!.lineno).toBe('number');
    expect(String(order!.timestamp)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const structured = lines.find((l) => l.message === 'slow order' && l.order_id === '42');
    expect(structured).toMatchObject({
      level: 'warning',
      logger: 'orders.structured',
      request_id: 'req-abc.123:x',
      trace_id: server.traceId,
      token: '[REDACTED]',
    });
    for (const line of lines) expect(['debug', 'info', 'warning', 'error', 'critical']).toContain(line.level);
    const records = receiver
      .logRecords()
      .filter((r) => (r.body as { stringValue?: string }).stringValue === 'order 42 for [REDACTED:email]');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      traceId: server.traceId,
      spanId: order!.span_id,
      severityText: 'INFO',
    });
    expect(records[0]!.attributes).toMatchObject({
      request_id: 'req-abc.123:x',
      frontend: 'web',
      password: '[REDACTED]',
    });
    // every line, the corpus request's included, passes `otelkit check logs` with the service's redaction
    const checked = checkLogs(
      jsonLines(app)
        .map((l) => JSON.stringify(l))
        .join('\n'),
      {
        redaction: pythonModel().redaction,
        frontends: FRONTENDS,
      },
    );
    expect(checked.problems).toEqual([]);
    expect(checked.lines).toBeGreaterThan(10);
    // the server's request log is the access class of the spec's retention; the app's, application
    const access = file === 'fastapi_app.py' ? 'uvicorn.access' : 'werkzeug';
    const classes = receiver.logRecords().map((r) => {
      const attributes = r.attributes as Record<string, unknown>;
      return [attributes['logger.name'], attributes['log.class']];
    });
    expect(classes).toContainEqual([access, 'access']);
    expect(classes).toContainEqual(['orders', 'application']);
    expect(lines.find((l) => l.logger === access)).toMatchObject({ 'log.class': 'access' });
    const failed = lines.find((l) => l.level === 'error' && typeof l.exception === 'string');
    expect(String(failed?.exception)).toContain('RuntimeError: boom');
  });

  it('gives each process its own service.instance.id', () => {
    const ids = new Set(receiver.resources().map((r) => r['service.instance.id']));
    expect(ids.size).toBe(1);
    instanceIds.push(...ids);
    expect([...ids][0]).toMatch(GENERATED);
    expect(receiver.resources()[0]).toMatchObject({
      'service.name': SERVICE,
      'deployment.environment.name': 'test',
    });
  });

  // only the FastAPI app uses tenacity and the breakers; the Flask app has no resilience routes
  if (file === 'fastapi_app.py')
    it('reports tenacity retries, pybreaker and aiobreaker breakers with the standard names, labels, levels and encodings', () => {
      expect(JSON.parse(responses.resilience!.body)).toEqual({
        inventory: 'ok',
        prices: 'exhausted',
        payments: 'rejected',
        payments_after: 'charged',
        ledger: 'rejected',
        ledger_after: 'posted',
      });
      const value = (p: Record<string, unknown>) => Number(p.asInt ?? p.asDouble);
      const series = (name: string): Record<string, unknown>[] =>
        receiver
          .metricPoints(name)
          .map((p) => ({ ...(p.attributes as Record<string, unknown>), value: value(p) }));
      expect(series('retry_attempts_total')).toEqual(
        expect.arrayContaining([
          { dependency: 'fetch_inventory', outcome: 'failure', value: 1 },
          { dependency: 'fetch_inventory', outcome: 'success', value: 1 },
          { dependency: 'fetch_prices', outcome: 'failure', value: 1 },
        ]),
      );
      expect(series('timeout_exceeded_total')).toContainEqual({ dependency: 'fetch_prices', value: 2 });
      // recovered by the end: 0 closed (1 half-open, 2 open)
      expect(series('circuit_breaker_state')).toEqual(
        expect.arrayContaining([
          { dependency: 'payments', value: 0 },
          { dependency: 'ledger', value: 0 },
        ]),
      );
      for (const dependency of ['payments', 'ledger'])
        expect(
          series('circuit_breaker_transitions_total').filter((p) => p.dependency === dependency),
        ).toEqual(
          expect.arrayContaining([
            { dependency, from_state: 'closed', to_state: 'open', value: 1 },
            { dependency, from_state: 'open', to_state: 'half_open', value: 1 },
            { dependency, from_state: 'half_open', to_state: 'closed', value: 1 },
          ]),
        );
      const events = jsonLines(app).filter((l) => l.resilience_event !== undefined);
      // the bootstrap carries its own copy of the table; this holds it to the one the Node side reads
      const levels: Record<string, string> = RESILIENCE_EVENTS;
      // this app causes every event of the table (its bulkhead the last two)
      const caused = Object.keys(levels);
      for (const event of events) {
        expect(levels[String(event.resilience_event)]).toBe(event.level);
        expect(typeof event.dependency).toBe('string');
        expect('attempt' in event).toBe(true);
        // where the app's code got there, not the bootstrap's or the library's frame
        expect(event).toMatchObject({ func_name: expect.any(String), lineno: expect.any(Number) });
      }
      const seen = (event: string, dependency: string) =>
        events.filter((e) => e.resilience_event === event && e.dependency === dependency);
      expect(seen('retry_attempt', 'fetch_inventory').map((e) => e.attempt)).toEqual([1, 2]);
      expect(seen('retry_attempt', 'fetch_inventory')[0]).toMatchObject({
        error: 'ConnectionError: connection reset',
      });
      expect(typeof seen('retry_attempt', 'fetch_inventory')[0]!.duration_ms).toBe('number');
      expect(seen('retry_exhausted', 'fetch_prices')).toEqual([
        expect.objectContaining({ attempt: 2, level: 'error' }),
      ]);
      expect(seen('timeout_exceeded', 'fetch_prices')).toHaveLength(2);
      for (const dependency of ['payments', 'ledger']) {
        for (const event of ['circuit_breaker_opened', 'circuit_breaker_half_open', 'circuit_breaker_closed'])
          expect({ dependency, event, count: seen(event, dependency).length }).toEqual({
            dependency,
            event,
            count: 1,
          });
        expect(seen('circuit_breaker_rejected', dependency)).toHaveLength(1);
      }
      // the same records reach the pipeline as OTLP logs, queryable by resilience_event
      const exported = receiver
        .logRecords()
        .map((r) => (r.attributes as Record<string, unknown>).resilience_event)
        .filter(Boolean);
      expect(new Set(exported)).toEqual(new Set(caused));
    });

  it('runs pool tasks in the context of the request that submitted them: request_id, trace, structlog contextvars', () => {
    expect(responses.pools!.status).toBe(200);
    const { threads } = JSON.parse(responses.pools!.body) as { threads: string[] };
    // the tasks did run on pool threads, not the request's own
    for (const thread of threads) expect(thread).toMatch(/^(orders-worker|asyncio)_\d+$/);
    const server = receiver
      .spans()
      .find(
        (s) => s.kind === SERVER && (s.attributes as Record<string, unknown>).request_id === 'req-pools-1',
      )!;
    expect(server).toBeDefined();
    const hows =
      file === 'fastapi_app.py'
        ? ['submit', 'run_in_executor', 'the default executor', 'to_thread']
        : ['submit', 'map'];
    const lines = jsonLines(app);
    for (const how of hows) {
      const plain = lines.find((l) => l.message === `working in a pool via ${how}`);
      const structured = lines.find((l) => l.message === 'structured work in a pool' && l.how === how);
      for (const line of [plain, structured])
        expect({ how, line }).toEqual({
          how,
          line: expect.objectContaining({
            request_id: 'req-pools-1',
            frontend: 'web',
            trace_id: server.traceId,
            span_id: expect.any(String),
          }),
        });
      expect({ how, order_ref: structured!.order_ref }).toEqual({ how, order_ref: 'o-77' });
    }
  });

  it('reports executor_* gauges by pool_type and its bulkhead with the standard names, labels and levels', () => {
    const value = (p: Record<string, unknown>) => Number(p.asInt ?? p.asDouble);
    const series = (name: string): Record<string, unknown>[] =>
      receiver
        .metricPoints(name)
        .map((p) => ({ ...(p.attributes as Record<string, unknown>), value: value(p) }));
    const pools = file === 'fastapi_app.py' ? ['process', 'thread'] : ['thread'];
    for (const name of ['executor_active_workers', 'executor_pending_tasks', 'executor_max_workers'])
      expect(
        series(name)
          .map((p) => p.pool_type)
          .sort(),
      ).toEqual(pools);
    // at exit every pool is idle; capacity is that of the pools not shut down: the app's thread pool
    // (and asyncio's default executor, asgiref's), not its process pool, which its lifespan shut down
    for (const pool of pools) {
      expect(series('executor_active_workers')).toContainEqual({ pool_type: pool, value: 0 });
      expect(series('executor_pending_tasks')).toContainEqual({ pool_type: pool, value: 0 });
    }
    const capacity = Object.fromEntries(series('executor_max_workers').map((p) => [p.pool_type, p.value]));
    if (file === 'fastapi_app.py') {
      expect(capacity.process).toBe(0);
      expect(capacity.thread).toBeGreaterThan(4);
    } else expect(capacity.thread).toBeGreaterThanOrEqual(2);
    const dependency = file === 'fastapi_app.py' ? 'payments' : 'inventory';
    const limit = file === 'fastapi_app.py' ? 2 : 1;
    expect(JSON.parse(responses.bulkhead!.body)).toEqual({
      available_while_held: 0,
      at_once: 'rejected',
      waiting: 'admitted',
    });
    expect(series('semaphore_available')).toEqual([{ dependency, value: limit }]);
    expect(series('bulkhead_rejections_total')).toEqual([{ dependency, value: 1 }]);
    const events = jsonLines(app).filter((l) => String(l.resilience_event).startsWith('bulkhead_'));
    expect(events).toEqual([
      expect.objectContaining({
        resilience_event: 'bulkhead_rejected',
        level: RESILIENCE_EVENTS.bulkhead_rejected,
        dependency,
        attempt: null,
        duration_ms: expect.any(Number),
        error: `BulkheadFull: ${dependency}: all ${limit} slots busy`,
        func_name: 'bulkheads',
        lineno: expect.any(Number),
      }),
      expect.objectContaining({
        resilience_event: 'bulkhead_contention',
        level: RESILIENCE_EVENTS.bulkhead_contention,
        dependency,
        attempt: null,
        func_name: 'bulkheads',
      }),
    ]);
    expect(events[1]!.duration_ms).toBeGreaterThan(1000);
    const exported = receiver
      .logRecords()
      .filter((r) =>
        String((r.attributes as Record<string, unknown>).resilience_event).startsWith('bulkhead_'),
      )
      .map((r) => [(r.attributes as Record<string, unknown>).resilience_event, r.severityText]);
    expect(exported).toEqual([
      ['bulkhead_rejected', 'WARNING'],
      ['bulkhead_contention', 'WARNING'],
    ]);
  });

  it('leaks none of the secret corpus into exported data or printed lines', () => {
    expect(responses.secrets!.status).toBe(200);
    expect(receiver.logRecords().length).toBeGreaterThan(0);
    const everything = [...receiver.bodies, ...app.stdout, ...app.stderr].join('\n');
    for (const secret of secretValues())
      expect({ secret, leaked: everything.includes(secret) }).toEqual({ secret, leaked: false });
  });
});

describe('processes of one service', () => {
  it('have different service.instance.id values', () => {
    expect(instanceIds).toHaveLength(VARIANTS.length);
    expect(new Set(instanceIds).size).toBe(VARIANTS.length);
  });
});
