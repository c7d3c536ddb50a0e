import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { canonicalRoute, routeShape } from '../../../../runtime/node/instrument/routes.ts';
import {
  MAX_ROUTES,
  ROUTES,
  appDirectory,
  flushOnlyEnv,
  makeApp,
  runApp,
  startReceiver,
  testModel,
  writePreload,
} from '../../../support/preload-harness.ts';

describe('framework route templates', () => {
  it('become the {param} form of the spec and its SLO selectors', () => {
    expect(canonicalRoute('/products/:productId')).toBe('/products/{productId}');
    expect(canonicalRoute('/orders/:orderId/items/:itemId?')).toBe('/orders/{orderId}/items/{itemId}');
    expect(canonicalRoute('/files/:id(\\d+)')).toBe('/files/{id}');
    expect(canonicalRoute('/static/*rest')).toBe('/static/{rest}');
    expect(canonicalRoute('/products/{productId}')).toBe('/products/{productId}');
    expect(canonicalRoute('/flights/:from-:to')).toBe('/flights/{from}-{to}');
  });

  it('match a declared template whatever their parameters are called', () => {
    expect(routeShape('/orders/:id')).toBe(routeShape('/orders/{orderId}'));
    expect(routeShape('/orders/:id/')).toBe(routeShape('/orders/{orderId}'));
    expect(routeShape('/orders/:id/payment')).not.toBe(routeShape('/orders/{orderId}'));
  });
});

describe('route budget under a scanner (express app)', () => {
  it('keeps declared routes labelled after 10,000 distinct scanner paths', async () => {
    const receiver = await startReceiver();
    const app = await runApp(await makeApp('express', 'commonjs'), flushOnlyEnv(receiver));
    // letters only, so no id placeholder folds them: each is a route of its own
    const word = (n: number) => n.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]!);
    const paths = Array.from({ length: 10_000 }, (_, i) => `/wp-${word(i)}/setup.php`);
    for (let at = 0; at < paths.length; at += 32) {
      await Promise.all(paths.slice(at, at + 32).map((p) => app.request(p)));
    }
    // the app routes /orders/:id; the spec declares /orders/{orderId}
    expect((await app.request('/orders/7')).status).toBe(200);
    expect((await app.request('/orders/8')).status).toBe(200);
    await app.stop('SIGTERM');

    const points = receiver.metricPoints('http.server.request.duration');
    const routes = new Map<string, number>();
    for (const point of points) {
      const attributes = point.attributes as Record<string, unknown>;
      const route = String(attributes['http.route']);
      routes.set(route, (routes.get(route) ?? 0) + Number(point.count));
    }
    expect(routes.get(ROUTES[0]!)).toBe(2);
    expect([...routes.keys()].filter((route) => route.startsWith('/:') || route.includes(':id'))).toEqual([]);
    // the scanner shares what the declared routes leave, and the overflow route takes the rest
    expect(routes.size).toBeLessThanOrEqual(MAX_ROUTES + 1);
    expect(routes.get('/{other}')).toBeGreaterThan(9_000);
    await receiver.close();
  }, 180_000);
});

/**
 * Apps whose matched route hands the response to a later middleware outside its router: by then
 * Express has restored `req.baseUrl` to the outer router's, so the mount path is only known while
 * the route matches.
 */
const LATE_RESPONDERS = {
  // json-server 0.17 brings its own Express 4: its resource routers (mounted at /posts) only set
  // res.locals.data, and the main router's last middleware renders it
  'json-server 0.17 (Express 4)': {
    dependencies: ['json-server'],
    source: `
const jsonServer = require('json-server');
const server = jsonServer.create();
server.use(jsonServer.defaults({ logger: false }));
server.use(jsonServer.router(require('node:path').join(__dirname, 'db.json')));
const listener = server.listen(0, '127.0.0.1', () => console.log('listening ' + listener.address().port));
`,
  },
  'Express 5': {
    dependencies: ['express'],
    source: `
const express = require('express');
const app = express();
const posts = express.Router();
posts.get('/:id', (req, res, next) => { res.locals.data = { id: req.params.id }; next(); });
app.use('/posts', posts);
app.use((req, res) => res.status(res.locals.data ? 200 : 404).json(res.locals.data ?? {}));
const listener = app.listen(0, '127.0.0.1', () => console.log('listening ' + listener.address().port));
`,
  },
};

describe.each(Object.entries(LATE_RESPONDERS))('a route answered outside its router: %s', (_name, app) => {
  it("records the route's full template, mount path included", async () => {
    const dir = await appDirectory('preload-late-route', app.dependencies);
    await writeFile(
      path.join(dir, 'db.json'),
      JSON.stringify({
        posts: [
          { id: 1, title: 'one' },
          { id: 'launch', title: 'a slug' },
        ],
      }),
    );
    await writeFile(path.join(dir, 'app.cjs'), app.source);
    const preload = await writePreload(dir, testModel('commonjs'), 'commonjs');
    const receiver = await startReceiver();
    const running = await runApp({ dir, file: 'app.cjs', preload }, flushOnlyEnv(receiver));
    expect((await running.request('/posts/1')).status).toBe(200);
    // an id no path normaliser folds: only the framework's template labels it /posts/{id}
    expect((await running.request('/posts/launch')).status).toBe(200);
    await running.stop('SIGTERM');

    const expected = canonicalRoute('/posts/:id');
    expect(expected).toBe('/posts/{id}');
    const servers = receiver.spans().filter((span) => span.kind === 2);
    expect(servers.map((span) => (span.attributes as Record<string, unknown>)['http.route'])).toEqual([
      expected,
      expected,
    ]);
    expect(servers.map((span) => span.name)).toEqual([`GET ${expected}`, `GET ${expected}`]);
    const points = receiver.metricPoints('http.server.request.duration');
    expect(points.map((point) => (point.attributes as Record<string, unknown>)['http.route'])).toEqual([
      expected,
    ]);
    expect(Number(points[0]!.count)).toBe(2);
    await receiver.close();
  }, 60_000);
});
