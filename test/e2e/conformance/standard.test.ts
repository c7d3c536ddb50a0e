import { execFile, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { checkLogs } from '../../../generator/check/logs.ts';
import { REPO, tempDir } from '../../support/helpers.ts';
import {
  appDirectory as pythonAppDirectory,
  FRONTENDS as PYTHON_FRONTENDS,
  jsonLines,
  pythonModel,
  pythonVenv,
  runPython,
  type PythonApp,
} from '../runtime/python/harness.ts';
import { startProtobufReceiver, type ProtobufReceiver } from '../../support/otlp-receiver.ts';
import {
  appDirectory,
  runApp,
  startReceiver,
  testModel,
  writePreload,
  type Receiver,
  type RunningApp,
} from '../../support/preload-harness.ts';

/**
 * The observability standard (seeds/003, "08 — Observability"), table by table, as data copied from
 * its text, and a real app under the generated Node preload held to every row: its JSON log lines,
 * the OTLP records and metrics a stand-in receiver gets, its response headers. The lines also pass
 * `otelkit check logs`. The Python bootstrap is held to the same rows in test/e2e/runtime/python (apps.test.ts:
 * the same event table, state encoding, labels and log fields against real FastAPI and Flask apps).
 */

/** "Event Types": `resilience_event` | When Emitted | Level. */
const EVENT_TYPES: [event: string, level: string][] = [
  ['circuit_breaker_opened', 'ERROR'],
  ['circuit_breaker_half_open', 'WARNING'],
  ['circuit_breaker_closed', 'INFO'],
  ['circuit_breaker_rejected', 'WARNING'],
  ['retry_attempt', 'WARNING'],
  ['retry_exhausted', 'ERROR'],
  ['timeout_exceeded', 'WARNING'],
  ['bulkhead_rejected', 'WARNING'],
  ['bulkhead_contention', 'WARNING'],
];

/** "Logging Contract": every resilience event includes these fields. */
const RESILIENCE_FIELDS = ['resilience_event', 'dependency', 'duration_ms', 'attempt', 'error'];

/** "Resilience metrics" and "Concurrency metrics": Metric | Type | Labels. */
const METRICS: [name: string, type: 'gauge' | 'counter', labels: string[]][] = [
  ['circuit_breaker_state', 'gauge', ['dependency']],
  ['circuit_breaker_transitions_total', 'counter', ['dependency', 'from_state', 'to_state']],
  ['retry_attempts_total', 'counter', ['dependency', 'outcome']],
  ['timeout_exceeded_total', 'counter', ['dependency']],
  ['bulkhead_rejections_total', 'counter', ['dependency']],
  ['executor_active_workers', 'gauge', ['pool_type']],
  ['executor_pending_tasks', 'gauge', ['pool_type']],
  ['executor_max_workers', 'gauge', ['pool_type']],
  ['semaphore_available', 'gauge', ['dependency']],
  ['active_async_tasks', 'gauge', []],
];
/** Rows about asyncio, which a Node process does not have. */
const ASYNCIO_ONLY = new Set(['active_async_tasks']);
/** `circuit_breaker_state`: 0=closed, 1=half-open, 2=open. */
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 };
/** `retry_attempts_total`'s `outcome` (success/failure). */
const RETRY_OUTCOMES = ['failure', 'success'];

/** "Log Levels" / "Structured Fields": level (debug, info, warning, error, critical). */
const LEVELS = ['debug', 'info', 'warning', 'error', 'critical'];
/** "Structured Fields": Field | Presence ("Always", "In HTTP request context", ...). */
const ALWAYS_FIELDS = ['timestamp', 'level', 'logger', 'event'];
const REQUEST_FIELDS = ['request_id', 'trace_id', 'span_id'];
/** "Source Values": in HTTP context, set by middleware from X-Frontend-ID. */
const SOURCE_FROM_FRONTEND = 'web';

/** "Standard Headers": Header | Direction. */
const HEADERS: [header: string, direction: 'In' | 'Out' | 'In/Out'][] = [
  ['X-Request-ID', 'In/Out'],
  ['X-Frontend-ID', 'In'],
  ['X-Response-Time', 'Out'],
  ['traceparent', 'In/Out'],
];

const APP = `
const http = require('node:http');
const CircuitBreaker = require('opossum');
const otelkit = require('otelkit/preload');
let failing = true;
const breaker = new CircuitBreaker(async () => { if (failing) throw new Error('payments down'); return 'paid'; },
  { name: 'payments', errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeout: 600, timeout: 1000 });
const steps = {
  fail: async () => { failing = true; for (let i = 0; i < 3; i++) await breaker.fire().catch(() => {}); },
  recover: async () => { failing = false; await breaker.fire(); },
  api: async () => {
    otelkit.recordRetry('orders-db', { attempt: 1, durationMs: 12.5, error: new Error('ECONNRESET') });
    otelkit.recordRetryOutcome('orders-db', 'failure');
    otelkit.recordRetryOutcome('orders-db', 'success');
    otelkit.recordRetryExhausted('orders-db', { attempt: 3, durationMs: 40, error: new Error('ECONNRESET') });
    otelkit.recordTimeout('orders-db', { durationMs: 1000 });
    otelkit.recordBulkheadRejection('orders-db', { durationMs: 0 });
    otelkit.recordBulkheadContention('orders-db', { durationMs: 1200 });
    otelkit.recordExecutor('thread', { active: 3, max: 4, pending: 7 });
    otelkit.recordSemaphore('orders-db', 2);
  },
  call: async () => {
    await new Promise((resolve, reject) => http.get(process.env.DOWNSTREAM + '/http', (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
    await (await fetch(process.env.DOWNSTREAM + '/fetch')).text();
    await (await fetch(process.env.DOWNSTREAM + '/own', { headers: { 'x-request-id': 'set-by-the-app' } })).text();
  },
  healthz: async () => {},
  log: async () => { console.debug('a debug line'); console.log('an info line'); console.warn('a warning line'); console.error('an error line'); },
};
http.createServer((req, res) => {
  const step = steps[new URL(req.url, 'http://x').pathname.slice(1)];
  if (!step) { res.statusCode = 404; return res.end(); }
  step().then(() => res.end('ok'), (error) => { res.statusCode = 500; res.end(String(error)); });
}).listen(0, '127.0.0.1', function () { console.log('listening ' + this.address().port); });
`;

const lines = (app: RunningApp) =>
  [...app.stdout, ...app.stderr].flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as unknown;
      return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });

type OtlpMetric = { name: string; gauge?: unknown; sum?: { isMonotonic?: boolean } };
const metricsOf = (receiver: Receiver) =>
  receiver.requests
    .filter((r) => r.path === '/v1/metrics')
    .flatMap((r) => {
      const body = JSON.parse(r.text) as {
        resourceMetrics?: { scopeMetrics?: { metrics?: OtlpMetric[] }[] }[];
      };
      return (body.resourceMetrics ?? []).flatMap((rm) =>
        (rm.scopeMetrics ?? []).flatMap((sm) => sm.metrics ?? []),
      );
    });

const until = async (what: string, check: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

describe('the standard, row by row: the Node preload', () => {
  let receiver: Receiver;
  let app: RunningApp;
  let out: Record<string, unknown>[];
  let apiResponse: Headers;
  const stateSeen: Record<string, number[]> = {};
  const statePoints = () =>
    receiver.metricPoints('circuit_breaker_state').map((p) => Number(p.asInt ?? p.asDouble));

  const downstreamSaw = new Map<string, unknown>();
  let downstream: http.Server;

  beforeAll(async () => {
    receiver = await startReceiver();
    downstream = http.createServer((request, response) => {
      downstreamSaw.set(request.url ?? '', request.headers['x-request-id']);
      response.end('{}');
    });
    await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
    const dir = await appDirectory('conformance-node', ['opossum']);
    await writeFile(path.join(dir, 'app.cjs'), APP);
    const preload = await writePreload(dir, testModel('commonjs'), 'commonjs');
    app = await runApp(
      { dir, file: 'app.cjs', preload },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '100',
        OTEL_BLRP_SCHEDULE_DELAY: '100',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        DOWNSTREAM: `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`,
      },
    );
    // each breaker state is held until an export has reported it
    const settle = async (state: keyof typeof BREAKER_STATE) => {
      const before = statePoints().length;
      await until(`an export while ${state}`, () => statePoints().length > before + 1);
      stateSeen[state] = statePoints().slice(before + 1);
    };
    await app.request('/fail', { 'x-frontend-id': SOURCE_FROM_FRONTEND });
    await settle('open');
    await app.request('/fail'); // rejected by the open breaker
    await new Promise((resolve) => setTimeout(resolve, 700)); // the reset timeout: half-open
    await settle('half_open');
    await app.request('/recover');
    await settle('closed');
    apiResponse = (
      await app.request('/api', { 'x-request-id': 'conformance-1', 'x-frontend-id': SOURCE_FROM_FRONTEND })
    ).headers;
    await app.request('/call', { 'x-request-id': 'conformance-call' });
    await app.request('/healthz', { 'x-request-id': 'conformance-health' });
    await app.request('/log', { 'x-request-id': 'conformance-2', 'x-frontend-id': SOURCE_FROM_FRONTEND });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await app.stop();
    out = lines(app);
  }, 60_000);
  afterAll(async () => {
    downstream?.close();
    await receiver?.close();
  });

  it.each(EVENT_TYPES)('logs %s at %s, in the JSON line and the OTLP record', (event, level) => {
    const line = out.find((l) => l.resilience_event === event);
    expect(line).toBeDefined();
    expect(line!.level).toBe(level.toLowerCase());
    for (const field of RESILIENCE_FIELDS.filter((f) => f !== 'duration_ms' && f !== 'error'))
      expect(line).toHaveProperty(field);
    if (event.startsWith('retry_')) expect(typeof line!.attempt).toBe('number');
    else expect(line!.attempt).toBeNull();
    const record = receiver
      .logRecords()
      .find((r) => (r.attributes as Record<string, unknown>).resilience_event === event);
    expect(record?.severityText).toBe(level);
  });

  it('logs no resilience_event outside the table', () => {
    const names = new Set(EVENT_TYPES.map(([event]) => event));
    for (const line of out.filter((l) => 'resilience_event' in l))
      expect(names).toContain(line.resilience_event);
  });

  it('carries the contract fields where they apply (duration, error)', () => {
    const retry = out.find((l) => l.resilience_event === 'retry_attempt')!;
    expect(retry).toMatchObject({ dependency: 'orders-db', attempt: 1, duration_ms: 12.5 });
    expect(retry.error).toMatch(/ECONNRESET/);
    expect(out.find((l) => l.resilience_event === 'bulkhead_contention')).toMatchObject({
      duration_ms: 1200,
    });
  });

  it.each(METRICS.filter(([name]) => !ASYNCIO_ONLY.has(name)))(
    'exports %s as a %s labelled %j',
    (name, type, labels) => {
      const metrics = metricsOf(receiver).filter((m) => m.name === name);
      expect(metrics.length).toBeGreaterThan(0);
      for (const metric of metrics) {
        if (type === 'gauge') expect(metric.gauge).toBeDefined();
        else expect(metric.sum?.isMonotonic).toBe(true);
      }
      const points = receiver.metricPoints(name);
      expect(points.length).toBeGreaterThan(0);
      for (const point of points)
        expect(Object.keys(point.attributes as object).sort()).toEqual([...labels].sort());
    },
  );

  it('encodes circuit_breaker_state 0=closed, 1=half-open, 2=open', () => {
    for (const [state, value] of Object.entries(BREAKER_STATE)) expect(stateSeen[state]).toContain(value);
  });

  it('labels retry_attempts_total by outcome success/failure', () => {
    const outcomes = receiver
      .metricPoints('retry_attempts_total')
      .map((p) => (p.attributes as Record<string, unknown>).outcome);
    expect([...new Set(outcomes)].sort()).toEqual(RETRY_OUTCOMES);
  });

  it('writes only the standard levels, all of them it produces spelled its way', () => {
    const levels = new Set(out.map((l) => l.level));
    for (const level of levels) expect(LEVELS).toContain(level);
    for (const level of ['debug', 'info', 'warning', 'error'].filter((l) => l !== 'debug'))
      expect(levels).toContain(level);
  });

  it('has the structured fields: always, in request context, and source from X-Frontend-ID', () => {
    for (const line of out) for (const field of ALWAYS_FIELDS) expect(line).toHaveProperty(field);
    const inRequest = out.find((l) => l.event === 'a warning line')!;
    for (const field of REQUEST_FIELDS) expect(inRequest[field]).toEqual(expect.any(String));
    expect(inRequest).toMatchObject({ request_id: 'conformance-2', source: SOURCE_FROM_FRONTEND });
  });

  it("has func_name and lineno on every line: the app's function and line that logged, also over OTLP", () => {
    for (const line of out)
      expect(line).toMatchObject({ func_name: expect.any(String), lineno: expect.any(Number) });
    const lineOf = (code: string) => APP.split('\n').findIndex((l) => l.includes(code)) + 1;
    const logged = lineOf("console.warn('a warning line')");
    expect(out.find((l) => l.event === 'a warning line')).toMatchObject({ func_name: 'log', lineno: logged });
    // a record the preload writes for the app (a resilience API call) names the app's call
    expect(out.find((l) => l.resilience_event === 'retry_attempt')).toMatchObject({
      func_name: 'api',
      lineno: lineOf('otelkit.recordRetry('),
    });
    const record = receiver
      .logRecords()
      .find((r) => (r.body as { stringValue?: string }).stringValue === 'a warning line');
    expect(record?.attributes).toMatchObject({ 'code.function.name': 'log', 'code.line.number': logged });
  });

  it('its log lines pass otelkit check logs', async () => {
    const file = path.join(await tempDir('conformance-logs'), 'system.jsonl');
    await writeFile(file, out.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const result = await promisify(execFile)(process.execPath, [
      path.join(REPO, 'bin/otelkit.js'),
      'check',
      'logs',
      file,
    ]).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${out.length} log lines conform\n`);
    expect('code' in result ? result.code : 0).toBe(0);
  });

  it('propagates X-Request-ID to downstream calls (http and fetch), keeping one the app set', () => {
    expect(Object.fromEntries(downstreamSaw)).toEqual({
      '/http': 'conformance-call',
      '/fetch': 'conformance-call',
      '/own': 'set-by-the-app',
    });
  });

  it('leaves the app’s health route untraced and out of the RED metrics', () => {
    const paths = receiver.spans().map((span) => (span.attributes as Record<string, unknown>)['url.path']);
    expect(paths).toContain('/call');
    expect(paths).not.toContain('/healthz');
    const routes = receiver
      .metricPoints('http.server.request.duration')
      .map((p) => (p.attributes as Record<string, unknown>)['http.route']);
    expect(routes).toContain('/call');
    expect(routes).not.toContain('/healthz');
  });

  it.each(HEADERS)('handles %s (%s) on the response', (header, direction) => {
    if (header === 'X-Request-ID') expect(apiResponse.get(header)).toBe('conformance-1');
    if (header === 'X-Response-Time') expect(apiResponse.get(header)).toMatch(/^\d+(\.\d+)?ms$/);
    // In: the frontend reaches the request's lines as frontend and source
    if (header === 'X-Frontend-ID')
      expect(out.find((l) => l.request_id === 'conformance-2')).toMatchObject({
        frontend: SOURCE_FROM_FRONTEND,
      });
    // In: a caller's trace context is continued (the server span joins the caller's trace)
    if (header === 'traceparent') expect(direction).toBe('In/Out');
  });
});

describe('the standard, row by row: the Python bootstrap (FastAPI on uvicorn)', () => {
  /** "Concurrency metrics": the executor gauges' `pool_type` (thread/process). */
  const POOL_TYPES = ['process', 'thread'];
  let receiver: ProtobufReceiver;
  let app: PythonApp;
  let out: Record<string, unknown>[];
  let given: Headers;

  beforeAll(async () => {
    pythonVenv();
    receiver = await startProtobufReceiver();
    const { dir, env } = await pythonAppDirectory('fastapi_app.py');
    app = await runPython(
      dir,
      ['opentelemetry-instrument', 'uvicorn', 'fastapi_app:app', '--host', '127.0.0.1', '--port', '$PORT'],
      { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    );
    given = (await app.request('/orders/42', { 'x-request-id': 'conformance-py', 'x-frontend-id': 'web' }))
      .headers;
    expect((await app.request('/resilience')).status).toBe(200);
    // its thread and process pools, and its bulkhead (the bootstrap's API): the concurrency rows
    expect((await app.request('/pools')).status).toBe(200);
    expect((await app.request('/bulkhead')).status).toBe(200);
    await app.stop('SIGTERM');
    out = jsonLines(app);
  }, 600_000);
  afterAll(async () => receiver?.close());

  it('has the standard’s event table, levels and breaker encoding (its own copy)', () => {
    const result = spawnSync(
      path.join(pythonVenv(), 'bin', 'python'),
      [
        '-c',
        'import json; from otelkit_bootstrap import resilience as r; print(json.dumps({"events": r.EVENTS, "states": r.STATE_VALUE}))',
      ],
      { cwd: path.join(REPO, 'runtime/python'), encoding: 'utf8' },
    );
    const tables = JSON.parse(result.stdout) as { events: Record<string, string>; states: object };
    expect(tables.events).toEqual(
      Object.fromEntries(EVENT_TYPES.map(([event, level]) => [event, level.toLowerCase()])),
    );
    expect(tables.states).toEqual(BREAKER_STATE);
  });

  it.each(EVENT_TYPES)('logs %s at %s, in the JSON line and the OTLP record', (event, level) => {
    const line = out.find((l) => l.resilience_event === event);
    expect(line).toMatchObject({ level: level.toLowerCase(), dependency: expect.any(String) });
    for (const field of RESILIENCE_FIELDS.filter((f) => f !== 'duration_ms' && f !== 'error'))
      expect(line).toHaveProperty(field);
    if (event.startsWith('retry_')) expect(typeof line!.attempt).toBe('number');
    else expect(line!.attempt).toBeNull();
    const record = receiver
      .logRecords()
      .find((r) => (r.attributes as Record<string, unknown>).resilience_event === event);
    expect(record?.severityText).toBe(level);
  });

  it.each(METRICS)('exports %s as a %s labelled %j', (name, type, labels) => {
    const metrics = receiver.metrics(name);
    expect(metrics.length).toBeGreaterThan(0);
    for (const metric of metrics) {
      if (type === 'gauge') expect(metric.gauge).toBeDefined();
      else expect((metric.sum as { isMonotonic?: boolean } | undefined)?.isMonotonic).toBe(true);
    }
    const points = receiver.metricPoints(name);
    expect(points.length).toBeGreaterThan(0);
    for (const point of points)
      expect(Object.keys(point.attributes as object).sort()).toEqual([...labels].sort());
  });

  it('labels retry_attempts_total by outcome success/failure', () => {
    const outcomes = receiver
      .metricPoints('retry_attempts_total')
      .map((p) => (p.attributes as Record<string, unknown>).outcome);
    expect([...new Set(outcomes)].sort()).toEqual(RETRY_OUTCOMES);
  });

  it('writes only the standard levels, with the structured fields', () => {
    expect(out.length).toBeGreaterThan(0);
    for (const line of out) {
      expect(LEVELS).toContain(line.level);
      for (const field of ALWAYS_FIELDS) expect(line).toHaveProperty(field);
    }
    // every line carries where it was logged; the bootstrap's own (resilience events) the app's frame
    for (const line of out)
      expect(line).toMatchObject({ func_name: expect.any(String), lineno: expect.any(Number) });
    const inRequest = out.find((l) => l.request_id === 'conformance-py' && l.logger === 'orders')!;
    for (const field of REQUEST_FIELDS) expect(inRequest[field]).toEqual(expect.any(String));
    expect(inRequest).toMatchObject({ frontend: SOURCE_FROM_FRONTEND, source: SOURCE_FROM_FRONTEND });
  });

  it('echoes X-Request-ID and sends X-Response-Time', () => {
    expect(given.get('x-request-id')).toBe('conformance-py');
    expect(given.get('x-response-time')).toMatch(/^\d+(\.\d+)?ms$/);
  });

  it('its log lines pass otelkit check logs', () => {
    const checked = checkLogs(out.map((l) => JSON.stringify(l)).join('\n'), {
      redaction: pythonModel().redaction,
      frontends: PYTHON_FRONTENDS,
    });
    expect(checked).toEqual({ lines: out.length, problems: [] });
  });

  it('labels the executor gauges by pool_type thread and process', () => {
    for (const name of ['executor_active_workers', 'executor_pending_tasks', 'executor_max_workers'])
      expect(
        [
          ...new Set(
            receiver.metricPoints(name).map((p) => (p.attributes as Record<string, unknown>).pool_type),
          ),
        ].sort(),
      ).toEqual(POOL_TYPES);
  });
});
