import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { normalisePath, orderRoutes, routeRegex } from '../../generator/routes.ts';
import { ROUTE_TEMPLATES } from '../support/helpers.ts';

const TEMPLATES = ROUTE_TEMPLATES;

describe('route normalisation', () => {
  it('matches templates in either parameter style, most specific first', () => {
    expect(normalisePath('/products/featured', TEMPLATES)).toBe('/products/featured');
    expect(normalisePath('/products/123', TEMPLATES)).toBe('/products/{productId}');
    expect(normalisePath('/products/123/', TEMPLATES)).toBe('/products/{productId}');
    expect(normalisePath('/orders/42/items/7?x=1', TEMPLATES)).toBe('/orders/:orderId/items/{itemId}');
    const order = orderRoutes(TEMPLATES);
    expect(order.indexOf('/products/featured')).toBeLessThan(order.indexOf('/products/{productId}'));
    expect(new RegExp(routeRegex('/')).test('/x')).toBe(false);
  });

  it('replaces ids, uuids, hashes and opaque tokens outside the templates', () => {
    expect(normalisePath('/users/42/orders/7', [])).toBe('/users/{id}/orders/{id}');
    expect(normalisePath('/a/1/2/3', [])).toBe('/a/{id}/{id}/{id}');
    expect(normalisePath(`/files/${randomUUID()}`, [])).toBe('/files/{uuid}');
    expect(normalisePath('/blobs/9f86d081884c7d659a2feaa0c55ad015', [])).toBe('/blobs/{hash}');
    expect(normalisePath('/orders/ord_8f7a6b21/receipt', [])).toBe('/orders/{id}/receipt');
    // words and versions stay
    expect(normalisePath('/api/v2/oauth2/callback', [])).toBe('/api/v2/oauth2/callback');
  });

  it('collapses 10,000 distinct paths with ids into the route set', () => {
    const paths = new Set<string>();
    for (let i = 0; paths.size < 10_000; i++) {
      paths.add(
        [
          `/products/${i}`,
          `/orders/${i * 7}/items/${randomUUID()}`,
          `/users/${i}/orders/${i + 1}`,
          `/sessions/${randomUUID()}`,
          `/receipts/rcpt_${i}x${i * 3}abc`,
        ][i % 5]!,
      );
    }
    const routes = new Set([...paths].map((p) => normalisePath(p, TEMPLATES)));
    expect([...routes].sort()).toEqual([
      '/orders/:orderId/items/{itemId}',
      '/products/{productId}',
      '/receipts/{id}',
      '/sessions/{uuid}',
      '/users/{id}/orders/{id}',
    ]);
  });
});
