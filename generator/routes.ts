/**
 * Turning raw URL paths into route templates, so an id never becomes a metric label. The same
 * rules run in the Collector (as OTTL regex replacements, Go RE2) and in the Node preload, so
 * every pattern here sticks to the syntax both engines read identically.
 */

const PARAMETER = /^(?:\{[^/{}]+\}|:[A-Za-z_][A-Za-z0-9_]*\??)$/;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `/orders/{orderId}` and `/orders/:orderId` both match `/orders/42` and `/orders/42/`. */
export function routeRegex(template: string): string {
  const segments = template
    .split('/')
    .slice(1)
    .map((segment) => {
      if (PARAMETER.test(segment)) return '[^/]+';
      if (segment === '*') return '.*';
      return escapeRegex(segment);
    });
  const body = segments.join('/');
  return template === '/' ? '^/$' : `^/${body}/?$`;
}

/** Most specific first, so `/products/featured` wins over `/products/{id}`. */
export function orderRoutes(templates: readonly string[]): string[] {
  const score = (template: string) => {
    const segments = template.split('/').slice(1);
    const params = segments.filter((s) => PARAMETER.test(s) || s === '*').length;
    return { params, length: segments.length };
  };
  return [...templates].sort((a, b) => {
    const sa = score(a);
    const sb = score(b);
    return sa.params - sb.params || sb.length - sa.length || a.localeCompare(b);
  });
}

/**
 * Placeholders for path segments that look like identifiers, for paths no template matched.
 * Each pattern consumes the segment's trailing "/" (RE2 has no look-ahead), so the rules are
 * applied twice to catch adjacent ids such as `/a/1/2`.
 */
export const ID_PLACEHOLDERS: readonly { name: string; pattern: string; replacement: string }[] = [
  {
    name: 'uuid',
    pattern: '/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(/|$)',
    replacement: '/{uuid}$1',
  },
  { name: 'hash', pattern: '/[0-9a-fA-F]{16,}(/|$)', replacement: '/{hash}$1' },
  { name: 'number', pattern: '/[0-9]+(/|$)', replacement: '/{id}$1' },
  // opaque ids such as "ord_8f7a6b21" or "a1b2c3d4e5": any segment with two or more digits
  { name: 'token', pattern: '/(?:[A-Za-z_-]*[0-9]){2}[A-Za-z0-9_-]*(/|$)', replacement: '/{id}$1' },
];

export const PLACEHOLDER_PASSES = 2;

/** JavaScript twin of the Collector's statements; used by the preload and to test the rules. */
export function normalisePath(path: string, templates: readonly string[]): string {
  const bare = path.split('?')[0]!;
  for (const template of orderRoutes(templates)) {
    if (new RegExp(routeRegex(template)).test(bare)) return template;
  }
  let route = bare;
  for (let pass = 0; pass < PLACEHOLDER_PASSES; pass++) {
    for (const { pattern, replacement } of ID_PLACEHOLDERS) {
      route = route.replace(new RegExp(pattern, 'g'), replacement);
    }
  }
  return route;
}
