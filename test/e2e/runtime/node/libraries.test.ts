/**
 * Library instrumentations against real servers: a Koa app (with @koa/router) querying PostgreSQL
 * through pg and MariaDB through mysql2, and caching in Redis through ioredis and node-redis, under the preload, CommonJS and ESM. The spans
 * must join the request's trace, carry the router's route, and leave nothing secret in the SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, tempDir } from '../../../support/helpers.ts';
import {
  appDirectory,
  flushOnlyEnv,
  runApp,
  startReceiver,
  testModel,
  writePreload,
  type ModuleKind,
  type Receiver,
} from '../../../support/preload-harness.ts';
import { startMariaDb, startPostgres, startRedis, type Server } from '../../../support/servers.ts';
import { uncoveredLibraries } from '../../../../runtime/node/instrument/libraries.ts';

const IMPORTS: Record<ModuleKind, string> = {
  commonjs: `const Koa = require('koa');
const Router = require('@koa/router');
const { Pool } = require('pg');
const Redis = require('ioredis');
const { createClient } = require('redis');
const mysql = require('mysql2/promise');`,
  esm: `import Koa from 'koa';
import Router from '@koa/router';
import pg from 'pg';
import Redis from 'ioredis';
import { createClient } from 'redis';
import mysql from 'mysql2/promise';
const { Pool } = pg;`,
};

const BODY = `
const pool = new Pool({ host: '127.0.0.1', port: Number(process.env.PG_PORT), user: 'otelkit', database: 'postgres' });
const redis = new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT) });
// node-redis (v4) beside ioredis: both clients' commands become spans
const nodeRedis = createClient({ url: 'redis://127.0.0.1:' + process.env.REDIS_PORT });
const inventory = mysql.createPool({ host: '127.0.0.1', port: Number(process.env.MYSQL_PORT), user: 'app' });
const app = new Koa();
const router = new Router();
router.get('/carts/:cartId/items', async (ctx) => {
  const { rows } = await pool.query(
    "SELECT $1::int AS cart, 'alice.smith@example.com' AS owner",
    [ctx.params.cartId],
  );
  await redis.set('cart:' + ctx.params.cartId, JSON.stringify(rows[0]));
  await nodeRedis.incr('cart-views:' + ctx.params.cartId);
  const [stock] = await inventory.query("SELECT ? AS cart, 'bob.jones@example.com' AS picker", [Number(ctx.params.cartId)]);
  ctx.body = { cart: JSON.parse(await redis.get('cart:' + ctx.params.cartId)), stock: stock[0].cart };
});
app.use(async (ctx, next) => { await next(); ctx.set('x-middleware', 'ran'); });
app.use(router.routes());
let server;
nodeRedis.connect().then(() => {
  server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
});
process.on('SIGTERM', () => { server?.close(); pool.end(); redis.quit(); nodeRedis.quit(); inventory.end(); });
`;

async function makeLibraryApp(module: ModuleKind) {
  const dir = await appDirectory(`preload-libraries-${module}`, [
    'koa',
    '@koa/router',
    'pg',
    'ioredis',
    'redis',
    'mysql2',
  ]);
  const file = module === 'esm' ? 'app.mjs' : 'app.cjs';
  await writeFile(path.join(dir, file), `${IMPORTS[module]}\n${BODY}`);
  const preload = await writePreload(dir, testModel(module), module);
  return { dir, file, preload };
}

type Span = Record<string, unknown> & { attributes: Record<string, unknown> };

describe.each(['commonjs', 'esm'] as const)(
  'preload on koa + pg + mysql2 + ioredis + redis (%s)',
  (module) => {
    let postgres: Server;
    let redis: Server;
    let mariadb: Server;
    let receiver: Receiver;
    beforeAll(async () => {
      [postgres, redis, mariadb, receiver] = await Promise.all([
        startPostgres(),
        startRedis(),
        startMariaDb(),
        startReceiver(),
      ]);
    });
    afterAll(async () => {
      await Promise.all([postgres?.stop(), redis?.stop(), mariadb?.stop(), receiver?.close()]);
    });

    it("joins the request's trace with database spans, the router's route and redacted SQL", async () => {
      const app = await runApp(await makeLibraryApp(module), {
        ...flushOnlyEnv(receiver),
        PG_PORT: String(postgres.port),
        REDIS_PORT: String(redis.port),
        MYSQL_PORT: String(mariadb.port),
      });
      const response = await app.request('/carts/7/items', { 'x-request-id': 'cart-req-1' });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-middleware')).toBe('ran');
      await app.stop();
      expect(app.stderr.filter((line) => line.startsWith('otelkit:'))).toEqual([]);

      const spans = receiver.spans() as Span[];
      const server = spans.find((s) => s.attributes.request_id === 'cart-req-1' && s.kind === 2)!;
      expect(server).toBeDefined();
      // the router's own template, not the id placeholder the raw path would give
      expect(server.attributes['http.route']).toBe('/carts/{cartId}/items');
      const trace = spans.filter((s) => s.traceId === server.traceId);
      const ids = new Set(trace.map((s) => s.spanId));
      const names = trace.map((s) => String(s.name));

      const query = trace.find((s) => s.kind === 3 && /^pg\.query/.test(String(s.name)));
      expect(query).toBeDefined();
      const sql = String(query!.attributes['db.query.text'] ?? query!.attributes['db.statement']);
      expect(sql).toContain('SELECT $1::int AS cart');
      expect(sql).not.toContain('alice.smith@example.com');
      expect(ids.has(String(query!.parentSpanId))).toBe(true);

      const commands = trace.filter((s) => s.kind === 3 && ['set', 'get'].includes(String(s.name)));
      expect(commands.map((s) => s.name).sort()).toEqual(['get', 'set']);
      for (const command of commands) expect(ids.has(String(command.parentSpanId))).toBe(true);
      const select = trace.find((s) => s.kind === 3 && s.attributes['db.system.name'] === 'mysql');
      expect(select?.attributes['db.query.text']).toBe("SELECT ? AS cart, '[REDACTED:email]' AS picker");
      expect(ids.has(String(select?.parentSpanId))).toBe(true);

      const increment = trace.find((s) => s.kind === 3 && s.name === 'redis-INCR');
      expect(increment?.attributes['db.query.text']).toBe('INCR cart-views:7');
      expect(ids.has(String(increment?.parentSpanId))).toBe(true);

      // the router's layer gets a span; plain middleware does not (no per-middleware spans unless asked)
      expect(names.filter((name) => name.startsWith('router - '))).toEqual(['router - /carts/:cartId/items']);
      expect(names.some((name) => name.startsWith('middleware - '))).toBe(false);

      const everything = [...receiver.bodies, ...app.stdout, ...app.stderr].join('\n');
      expect(everything).not.toContain('alice.smith@example.com');
      expect(everything).not.toContain('bob.jones@example.com');
    });
  },
);

describe('library versions the instrumentations do not cover', () => {
  it('are named in a warning instead of going silently untraced', async () => {
    const dir = await tempDir('preload-library-versions');
    for (const [name, version] of [
      ['redis', '5.1.0'],
      ['pg', '8.23.1'],
      ['koa', '1.7.0'],
    ]) {
      await mkdir(path.join(dir, 'node_modules', name!), { recursive: true });
      await writeFile(
        path.join(dir, 'node_modules', name!, 'package.json'),
        JSON.stringify({ name, version }),
      );
    }
    // a package whose exports map hides its manifest: found from its entry point instead
    await mkdir(path.join(dir, 'node_modules', 'mongodb', 'lib'), { recursive: true });
    await writeFile(
      path.join(dir, 'node_modules', 'mongodb', 'package.json'),
      JSON.stringify({ name: 'mongodb', version: '8.0.0', exports: { '.': './lib/index.js' } }),
    );
    await writeFile(path.join(dir, 'node_modules', 'mongodb', 'lib', 'index.js'), '');
    expect(uncoveredLibraries(dir, ['redis', 'pg', 'koa', 'mongodb'])).toEqual([
      'redis 5.1.0 is not traced: @opentelemetry/instrumentation-redis covers redis 2.x to 4.x',
      'mongodb 8.0.0 is not traced: @opentelemetry/instrumentation-mongodb covers mongodb 3.x to 7.x',
      'koa 1.7.0 is not traced: @opentelemetry/instrumentation-koa covers koa 2.x to 3.x',
    ]);
  });

  it('include none of the versions tested against real servers above', () => {
    expect(uncoveredLibraries(REPO, ['pg', 'mysql2', 'redis', 'ioredis', 'koa'])).toEqual([]);
  });
});
