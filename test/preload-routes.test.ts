import { describe, expect, it } from '@jest/globals';
import { canonicalRoute, routeShape } from '../generator/runtime/preload/routes.ts';
import { MAX_ROUTES, ROUTES, flushOnlyEnv, makeApp, runApp, startReceiver } from './preload-harness.ts';

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
