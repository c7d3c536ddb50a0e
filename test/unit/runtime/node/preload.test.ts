import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { LoggerProvider, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { runDebugToken } from '../../../../generator/cli/debug-token.ts';
import { BUILTIN_BLOCKED_KEYS, BUILTIN_VALUE_PATTERNS } from '../../../../generator/model/model.ts';
import * as conventions from '../../../../generator/model/conventions.ts';
import { normalisePath } from '../../../../generator/routes.ts';
import * as runtimeSettings from '../../../../runtime/node/settings.ts';
import { mintDebugToken, verifyDebugToken } from '../../../../runtime/debug-token.ts';
import { DurationHistogram } from '../../../../runtime/node/metrics/histogram.ts';
import { thrownAt } from '../../../../runtime/node/logs/sink.ts';
import { createRedactor } from '../../../../runtime/node/redact/redact.ts';
import { logRedaction } from '../../../../runtime/node/redact/signals.ts';
import { createPathNormaliser } from '../../../../runtime/node/instrument/routes.ts';
import { preloadTarget } from '../../../../generator/targets/preload.ts';
import type { Model } from '../../../../generator/model/model.ts';
import { SECRET_CORPUS, secretValues } from '../../../support/preload-corpus.ts';
import { REPO, ROUTE_TEMPLATES } from '../../../support/helpers.ts';

const TEMPLATES = ROUTE_TEMPLATES;

describe('preload runtime route normalisation', () => {
  it('agrees with generator/routes.ts on a corpus of paths', () => {
    const paths = [
      '/',
      '/products',
      '/products/',
      '/products/featured',
      '/products/123',
      '/products/123?x=1',
      '/orders/42/items/7',
      '/orders/ord_8f7a6b21/items/x',
      '/users/42/orders/7',
      '/a/1/2/3',
      `/files/${randomUUID()}`,
      `/files/${randomUUID()}/${randomUUID()}`,
      '/blobs/9f86d081884c7d659a2feaa0c55ad015',
      '/v2/health',
      '/api/v1/things/abc',
      '/search/shoes',
      '/users/bob@example.com',
      '/x/a1b2c3/y',
      '/deep/1/2/3/4/5',
      '',
    ];
    const runtime = createPathNormaliser(TEMPLATES);
    const bare = createPathNormaliser([]);
    for (const path of paths) {
      expect(runtime(path)).toBe(normalisePath(path, TEMPLATES));
      expect(bare(path)).toBe(normalisePath(path, []));
    }
  });
});

describe('preload redaction', () => {
  const redactor = createRedactor(
    [...BUILTIN_BLOCKED_KEYS],
    Object.entries(BUILTIN_VALUE_PATTERNS).map(([name, regex]) => ({ name, regex })),
  );

  it('removes every secret of the corpus from text and data', () => {
    expect(SECRET_CORPUS.length).toBeGreaterThanOrEqual(20);
    for (const sample of SECRET_CORPUS) {
      const out = JSON.stringify([redactor.text(sample.text), redactor.data(sample.data)]);
      for (const secret of secretValues([sample])) expect(out).not.toContain(secret);
    }
  });

  it('keeps ordinary text and translates the RE2 (?i) flag', () => {
    expect(redactor.text('GET /orders/42 took 12 ms')).toBe('GET /orders/42 took 12 ms');
    expect(redactor.text('BEARER abc.def')).toContain('[REDACTED');
    expect(redactor.value('http.request.header.authorization', 'x')).toBe('[REDACTED]');
    expect(redactor.value('db_password', 'x')).toBe('[REDACTED]');
  });

  it('redacts every log record as it is emitted, its body too unless the preload wrote it', () => {
    const emitted: ReadableLogRecord[] = [];
    // what the batch processor after it queues: the records as they leave onEmit
    const queue = {
      onEmit: (record: ReadableLogRecord) => void emitted.push(record),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const provider = new LoggerProvider({ processors: [logRedaction(redactor, 'otelkit-preload'), queue] });
    const attributes = { password: 'hunter2', note: 'mail bob@example.com' };
    provider.getLogger('app').emit({ body: 'mail bob@example.com', attributes: { ...attributes } });
    // the preload's sink redacted its records as it wrote them: a body is not redacted twice
    provider.getLogger('otelkit-preload').emit({ body: 'as written: bob@example.com', attributes });
    const [app, own] = emitted;
    expect(app!.body).toBe('mail [REDACTED:email]');
    expect(app!.attributes).toEqual({ password: '[REDACTED]', note: 'mail [REDACTED:email]' });
    expect(own!.body).toBe('as written: bob@example.com');
    expect(own!.attributes).toEqual({ password: '[REDACTED]', note: 'mail [REDACTED:email]' });
  });
});

describe('debug tokens', () => {
  const secret = 'test-secret';

  it('verifies a fresh token and rejects tampered, expired and foreign ones', () => {
    const now = Date.now();
    const { token } = mintDebugToken(secret, 15 * 60_000, now);
    expect(verifyDebugToken(token, secret, now).valid).toBe(true);
    expect(verifyDebugToken(token, 'other', now)).toEqual({ valid: false, reason: 'signature' });
    expect(verifyDebugToken(token, secret, now + 16 * 60_000)).toEqual({ valid: false, reason: 'expired' });
    expect(verifyDebugToken(`${token}x`, secret, now)).toMatchObject({ valid: false });
    expect(verifyDebugToken('garbage', secret, now)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifyDebugToken(token, undefined, now)).toEqual({ valid: false, reason: 'no_secret' });
    expect(() => mintDebugToken(secret, 61 * 60_000)).toThrow(/60 minutes/);
  });

  it('mints from the CLI with an audit line and refuses long TTLs or a missing secret', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      cwd: '/',
      env: { OTELKIT_DEBUG_SECRET: secret },
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
    };
    expect(await runDebugToken(io, ['--ttl', '15m'])).toBe(0);
    expect(verifyDebugToken(out[0]!, secret).valid).toBe(true);
    expect(JSON.parse(err[0]!)).toMatchObject({ message: 'debug token minted', 'log.class': 'audit' });
    await expect(runDebugToken(io, ['--ttl', '2h'])).rejects.toThrow(/at most 60m/);
    await expect(runDebugToken({ ...io, env: {} }, [])).rejects.toThrow(/OTELKIT_DEBUG_SECRET/);
  });
});

describe('preload target', () => {
  it('emits .mjs for every Node service and .cjs for CommonJS ones, with the settings as a literal', () => {
    const service = (name: string, runtime: string, module: string) => ({
      name,
      runtime,
      module,
      frontends: ['web'],
      routes: ['/orders/{id}'],
      dependencies: [],
    });
    const model = {
      project: 'shop',
      environment: 'prod',
      services: [
        service('api', 'node', 'esm'),
        service('legacy', 'node', 'commonjs'),
        service('ml', 'python', 'esm'),
      ],
      redaction: { blockedKeys: ['password'], valuePatterns: [] },
      signals: { logs: { level: 'info' }, metrics: { histogramBucketsMs: [100], maxRoutesPerService: 50 } },
    } as unknown as Model;
    const artifacts = preloadTarget.generate(model);
    expect(artifacts.map((a) => a.path)).toEqual([
      'preload/api.mjs',
      'preload/legacy.mjs',
      'preload/legacy.cjs',
    ]);
    const api = artifacts[0]!;
    expect(api.format === 'text' && api.comment).toBe('slash');
    expect(api.format === 'text' && api.content).toContain("import { start } from 'otelkit/preload';");
    expect(api.format === 'text' && api.content).toContain('"endpoint": "http://127.0.0.1:4318"');
  });
});

describe('preload settings, the contract between the generator and the runtime', () => {
  it('every generated preload passes settings the runtime takes as they are, without a warning', async () => {
    const files = (await readdir(path.join(REPO, 'preload'))).filter((file) => /\.[mc]js$/.test(file));
    expect(files.length).toBeGreaterThan(1);
    for (const file of files) {
      const text = await readFile(path.join(REPO, 'preload', file), 'utf8');
      const given = JSON.parse(/start\((\{[\s\S]*\})\);\n$/.exec(text)![1]!) as Record<string, unknown>;
      const warnings: string[] = [];
      const parsed = runtimeSettings.parseSettings(given, (message) => warnings.push(message));
      expect({ file, warnings }).toEqual({ file, warnings: [] });
      expect(parsed).toEqual({ ...runtimeSettings.DEFAULT_SETTINGS, ...given });
    }
  });

  it('a setting of the wrong shape keeps its default with a warning, and the rest still apply', () => {
    const warnings: string[] = [];
    const parsed = runtimeSettings.parseSettings(
      { service: 'api', routes: '/orders/{id}', maxRoutes: 'many', colour: 'blue', admin: { port: 9464 } },
      (message) => warnings.push(message),
    );
    expect(parsed.service).toBe('api');
    expect(parsed.routes).toEqual([]);
    expect(parsed.maxRoutes).toBe(runtimeSettings.DEFAULT_SETTINGS.maxRoutes);
    expect(parsed.admin).toBeUndefined();
    expect(parsed).not.toHaveProperty('colour');
    expect(warnings).toEqual([
      'preload setting routes must be a list of strings; using the default',
      'preload setting maxRoutes must be a number; using the default',
      'unknown preload setting colour; ignored',
      'preload setting admin must be { port, bind, tokenEnv, metrics, eventLoopDelayMs, readyWhen }; ignored',
    ]);
    expect(runtimeSettings.parseSettings(undefined, () => undefined)).toEqual(
      runtimeSettings.DEFAULT_SETTINGS,
    );
  });
});

describe('preload request-duration histogram', () => {
  it('aggregates cumulative bucket counts per series without the SDK instrument', async () => {
    const histogram = new DurationHistogram([0.005, 0.05, 0.5], 'test');
    for (const seconds of [0.001, 0.005, 0.02, 0.7])
      histogram.record(seconds, 'GET', 200, '/orders/{id}', 'web');
    histogram.record(0.1, 'GET', 500, '/orders/{id}', 'web');
    const first = await histogram.collect();
    histogram.record(0.3, 'GET', 200, '/orders/{id}', 'web');
    const second = await histogram.collect();
    const [metric] = first.resourceMetrics.scopeMetrics[0]!.metrics;
    expect(metric!.descriptor.name).toBe('http.server.request.duration');
    expect(metric!.dataPoints).toHaveLength(2);
    expect(metric!.dataPoints[0]).toMatchObject({
      attributes: {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'http.route': '/orders/{id}',
        frontend: 'web',
      },
      value: {
        buckets: { boundaries: [0.005, 0.05, 0.5], counts: [2, 1, 0, 1] },
        count: 4,
        min: 0.001,
        max: 0.7,
      },
    });
    // cumulative: the second collection includes the first one's counts
    const point = second.resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!;
    expect(point.value).toMatchObject({ buckets: { counts: [2, 1, 1, 1] }, count: 5 });
    expect(point.startTime).toEqual(metric!.dataPoints[0]!.startTime);
  });
});

describe('names shared by the runtime and the generator', () => {
  it('are spelled the same on both sides (the Collector keeps debug traces by this attribute, Loki keeps log classes by that one)', () => {
    const shared = [
      'FRONTEND_ATTRIBUTE',
      'UNKNOWN_FRONTEND',
      'REQUEST_ID_ATTRIBUTE',
      'DEBUG_ATTRIBUTE',
      'LOG_CLASS_ATTRIBUTE',
    ] as const;
    for (const name of shared) {
      expect({ name, value: runtimeSettings[name] }).toEqual({ name, value: conventions[name] });
    }
  });
});

describe('where an uncaught error was thrown (its func_name and lineno)', () => {
  const thrown = (frame: string) =>
    Object.assign(new Error('x'), { stack: `Error: x\n    at ${frame}\n    at next (/app/b.js:1:1)` });
  it.each([
    ['placeOrder (/app/orders.js:12:5)', 'placeOrder', 12],
    ['Orders.place [as run] (file:///app/orders.mjs:40:11)', 'place', 40],
    ['new Orders (/app/orders.js:3:9)', 'Orders', 3],
    // a frame without a location is passed over for the next one that has one
    ['async Promise.all (index 0)', 'next', 1],
    ['/app/top-level.js:7:1', '<anonymous>', 7],
    ['Object.<anonymous> (/app/index.js:2:7)', '<anonymous>', 2],
  ])('%s', (frame, name, line) => {
    expect(thrownAt(thrown(frame))).toEqual({ function: name, line });
  });
});
