import { afterAll } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { BUILTIN_BLOCKED_KEYS, BUILTIN_VALUE_PATTERNS, type Model } from '../../generator/model/model.ts';
import { preloadTarget } from '../../generator/targets/preload.ts';
import { REPO, tempDir } from './helpers.ts';
import { SECRET_CORPUS } from './preload-corpus.ts';

/** A stand-in Collector: OTLP/HTTP JSON on loopback, keeping every body for assertions and leak checks. */
export interface Receiver {
  url: string;
  bodies: string[];
  requests: { path: string; contentType: string; text: string }[];
  spans(): Record<string, unknown>[];
  metricPoints(name: string): Record<string, unknown>[];
  logRecords(): Record<string, unknown>[];
  close(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
type KeyValue = { key: string; value: AnyValue };

const flatten = (attributes: KeyValue[] | undefined) =>
  Object.fromEntries(
    (attributes ?? []).map(({ key, value }) => [
      key,
      value.stringValue ??
        (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue)),
    ]),
  );

/**
 * Receivers and apps a failed assertion left open: closed when the test file ends, so a failure is
 * reported instead of holding jest (and CI) open on their handles.
 */
const leftovers = new Set<() => unknown>();
afterAll(async () => {
  await Promise.all([...leftovers].map((close) => close()));
});

export async function startReceiver(): Promise<Receiver> {
  const bodies: { path: string; json: Record<string, unknown[]>; text: string; contentType: string }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const contentType = request.headers['content-type'] ?? '';
      try {
        bodies.push({
          path: request.url ?? '',
          json: JSON.parse(text) as Record<string, unknown[]>,
          text,
          contentType,
        });
      } catch {
        bodies.push({ path: request.url ?? '', json: {}, text, contentType });
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const forceClose = () => {
    server.closeAllConnections();
    server.close();
  };
  leftovers.add(forceClose);
  const walk = (pathName: string, top: string, scope: string, items: string) =>
    bodies
      .filter((b) => b.path === pathName)
      .flatMap((b) => (b.json[top] ?? []) as Record<string, Record<string, unknown>[]>[])
      .flatMap((r) => r[scope] ?? [])
      .flatMap((s) => (s[items] ?? []) as Record<string, unknown>[]);
  return {
    url: `http://127.0.0.1:${port}`,
    get bodies() {
      return bodies.map((b) => b.text);
    },
    get requests() {
      return bodies.map(({ path, contentType, text }) => ({ path, contentType, text }));
    },
    spans: () =>
      walk('/v1/traces', 'resourceSpans', 'scopeSpans', 'spans').map((s) => ({
        ...s,
        attributes: flatten(s.attributes as KeyValue[]),
      })),
    metricPoints: (name) =>
      walk('/v1/metrics', 'resourceMetrics', 'scopeMetrics', 'metrics')
        .filter((m) => m.name === name)
        .flatMap((m) => {
          const data = (m.histogram ?? m.sum ?? m.gauge) as { dataPoints: Record<string, unknown>[] };
          return data.dataPoints.map((p) => ({ ...p, attributes: flatten(p.attributes as KeyValue[]) }));
        }),
    logRecords: () =>
      walk('/v1/logs', 'resourceLogs', 'scopeLogs', 'logRecords').map((r) => ({
        ...r,
        attributes: flatten(r.attributes as KeyValue[]),
      })),
    close: () => {
      leftovers.delete(forceClose);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Framework = 'http' | 'express' | 'fastify';
export type ModuleKind = 'esm' | 'commonjs';

const IMPORTS: Record<Framework, Record<ModuleKind, string>> = {
  http: { esm: "import http from 'node:http';", commonjs: "const http = require('node:http');" },
  express: { esm: "import express from 'express';", commonjs: "const express = require('express');" },
  fastify: { esm: "import Fastify from 'fastify';", commonjs: "const Fastify = require('fastify');" },
};

/** The same four behaviours in each framework, so every test reads the same way. */
const HANDLERS = `
const corpus = JSON.parse(process.env.SECRET_CORPUS_JSON);
const handlers = {
  order: (id) => { console.log('order', id, { password: 'hunter2-Sup3r' }); return [200, { id }]; },
  boom: () => { console.error('boom'); return [500, { error: 'boom' }]; },
  debug: () => { console.debug('debug detail'); console.log('debug endpoint'); return [200, {}]; },
  secrets: (headers, query) => {
    for (const sample of corpus) { console.log(sample.text); console.warn('data', sample.data); }
    console.log('headers', headers);
    console.log('query', query);
    return [200, { ok: true }];
  },
  other: (path) => [200, { path }],
};
`;

const BODIES: Record<Framework, string> = {
  http: `
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const [, first, second] = url.pathname.split('/');
  const [status, body] =
    first === 'orders' ? handlers.order(second)
    : first === 'boom' ? handlers.boom()
    : first === 'debug' ? handlers.debug()
    : first === 'secrets' ? handlers.secrets(req.headers, url.search)
    : handlers.other(url.pathname);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`,
  express: `
const app = express();
const send = (res, [status, body]) => res.status(status).json(body);
app.get('/orders/:id', (req, res) => send(res, handlers.order(req.params.id)));
app.get('/boom', (req, res) => send(res, handlers.boom()));
app.get('/debug', (req, res) => send(res, handlers.debug()));
app.get('/secrets', (req, res) => send(res, handlers.secrets(req.headers, req.url)));
app.get('/slow', (req, res) => setTimeout(() => send(res, [200, {}]), 300));
app.use((req, res) => send(res, handlers.other(req.path)));
const server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`,
  fastify: `
const app = Fastify();
const send = (reply, [status, body]) => reply.code(status).send(body);
app.get('/orders/:id', async (req, reply) => send(reply, handlers.order(req.params.id)));
app.get('/boom', async (req, reply) => send(reply, handlers.boom()));
app.get('/debug', async (req, reply) => send(reply, handlers.debug()));
app.get('/secrets', async (req, reply) => send(reply, handlers.secrets(req.headers, req.url)));
app.setNotFoundHandler(async (req, reply) => send(reply, handlers.other(req.url)));
app.listen({ port: 0, host: '127.0.0.1' }).then(() => console.log('listening ' + app.server.address().port));
`,
};

export const SERVICE = 'checkout';
export const FRONTENDS = ['web', 'ios'];
export const ROUTES = ['/orders/{orderId}'];
export const MAX_ROUTES = 50;

export function testModel(module: ModuleKind): Model {
  return {
    project: 'shop',
    environment: 'test',
    services: [
      { name: SERVICE, runtime: 'node', module, frontends: FRONTENDS, routes: ROUTES, dependencies: [] },
    ],
    redaction: {
      blockedKeys: [...BUILTIN_BLOCKED_KEYS],
      valuePatterns: Object.entries(BUILTIN_VALUE_PATTERNS).map(([name, regex]) => ({ name, regex })),
    },
    signals: {
      logs: { level: 'info' },
      metrics: { histogramBucketsMs: [5, 50, 500], maxRoutesPerService: MAX_ROUTES },
    },
  } as unknown as Model;
}

/** Writes the generated preload files of `model` into `dir`; returns the node flags that load them. */
export async function writePreload(dir: string, model: Model, module: ModuleKind) {
  await mkdir(path.join(dir, 'preload'));
  for (const artifact of preloadTarget.generate(model)) {
    if (artifact.format === 'text') await writeFile(path.join(dir, artifact.path), artifact.content);
  }
  return module === 'esm'
    ? ['--import', `./preload/${SERVICE}.mjs`]
    : ['--require', `./preload/${SERVICE}.cjs`];
}

/**
 * An app directory outside the repo that resolves otelkit and `dependencies` (from the repo's
 * node_modules) like an installed app, with `manifest` as its package.json.
 */
export async function appDirectory(
  prefix: string,
  dependencies: readonly string[],
  manifest: object = { name: 'app', private: true },
) {
  const dir = await tempDir(prefix);
  const modules = path.join(dir, 'node_modules');
  await mkdir(modules, { recursive: true });
  await symlink(REPO, path.join(modules, 'otelkit'));
  for (const dependency of dependencies) {
    // scoped packages (@koa/router) need their scope directory
    await mkdir(path.dirname(path.join(modules, dependency)), { recursive: true });
    await symlink(path.join(REPO, 'node_modules', dependency), path.join(modules, dependency));
  }
  await writeFile(path.join(dir, 'package.json'), JSON.stringify(manifest));
  return dir;
}

export async function makeApp(framework: Framework, module: ModuleKind) {
  const dir = await appDirectory(`preload-${framework}-${module}`, ['express', 'fastify']);
  const file = module === 'esm' ? 'app.mjs' : 'app.cjs';
  await writeFile(path.join(dir, file), `${IMPORTS[framework][module]}\n${HANDLERS}\n${BODIES[framework]}`);
  const preload = await writePreload(dir, testModel(module), module);
  return { dir, file, preload };
}

export interface RunningApp {
  child: ChildProcess;
  port: number;
  stdout: string[];
  stderr: string[];
  request(pathName: string, headers?: Record<string, string>): Promise<{ status: number; headers: Headers }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export async function runApp(
  app: { dir: string; file: string; preload: string[] },
  env: Record<string, string>,
): Promise<RunningApp> {
  const child = spawn(process.execPath, [...app.preload, app.file], {
    cwd: app.dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SECRET_CORPUS_JSON: JSON.stringify(SECRET_CORPUS.map(({ text, data }) => ({ text, data }))),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const kill = () => child.kill('SIGKILL');
  leftovers.add(kill);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      leftovers.delete(kill);
      resolve({ code, signal });
    }),
  );
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(...chunk.toString().split('\n').filter(Boolean)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        stdout.push(line);
        const match = /listening (\d+)/.exec(line);
        if (match) resolve(Number(match[1]));
      }
    });
    void exited.then(({ code }) => reject(new Error(`app exited (${code}): ${stderr.join('\n')}`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  return {
    child,
    port,
    stdout,
    stderr,
    request: (pathName, headers = {}) =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: pathName, headers, agent }, (res) => {
          res.resume();
          res.on('end', () => {
            const out = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') out.set(k, v);
            resolve({ status: res.statusCode!, headers: out });
          });
        });
        req.on('error', reject);
      }),
    stop: async (signal = 'SIGTERM') => {
      agent.destroy();
      const started = Date.now();
      child.kill(signal);
      const result = await exited;
      return { ...result, ms: Date.now() - started };
    },
  };
}

/** Export only when asked to flush, so arriving data proves the shutdown flush. */
export const flushOnlyEnv = (receiver: Receiver) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_BSP_SCHEDULE_DELAY: '600000',
  OTEL_BLRP_SCHEDULE_DELAY: '600000',
  OTEL_METRIC_EXPORT_INTERVAL: '600000',
  OTELKIT_DEBUG_SECRET: 'preload-test-secret',
});

export type LogLibrary = 'pino' | 'winston';

const LOGGERS: Record<LogLibrary, Record<ModuleKind, string>> = {
  pino: {
    esm: `import pino from 'pino';\nconst log = pino({ name: 'orders' });`,
    commonjs: `const pino = require('pino');\nconst log = pino({ name: 'orders' });`,
  },
  winston: {
    esm: `import winston from 'winston';\nconst log = winston.createLogger({ defaultMeta: { logger: 'orders' }, transports: [new winston.transports.Console()] });`,
    commonjs: `const winston = require('winston');\nconst log = winston.createLogger({ defaultMeta: { logger: 'orders' }, transports: [new winston.transports.Console()] });`,
  },
};

/** A plain http app that logs through pino or winston, with a secret in the structured fields. */
export async function makeLoggingApp(library: LogLibrary, module: ModuleKind) {
  const dir = await appDirectory(`preload-${library}-${module}`, [library]);
  const file = module === 'esm' ? 'app.mjs' : 'app.cjs';
  const http = module === 'esm' ? `import http from 'node:http';` : `const http = require('node:http');`;
  await writeFile(
    path.join(dir, file),
    `${http}\n${LOGGERS[library][module]}
const server = http.createServer((req, res) => {
  const id = req.url.split('/')[2];
  log.info({ orderId: id, password: 'hunter2-Sup3r' }, 'order ' + id + ' for alice.smith@example.com');
  log.warn('slow order ' + id);
  log.debug('debug detail for order ' + id);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`.replace(
      library === 'winston'
        ? "log.info({ orderId: id, password: 'hunter2-Sup3r' }, 'order ' + id + ' for alice.smith@example.com')"
        : '\0',
      "log.info('order ' + id + ' for alice.smith@example.com', { orderId: id, password: 'hunter2-Sup3r' })",
    ),
  );
  const preload = await writePreload(dir, testModel(module), module);
  return { dir, file, preload };
}
