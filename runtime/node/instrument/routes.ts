/**
 * The runtime's copy of generator/routes.ts normalisePath (the preload may not import generator
 * code). A test runs both over one corpus so they cannot drift apart. Regexes are compiled once,
 * because this runs on every request that no framework route covers.
 */

const PARAMETER = /^(?:\{[^/{}]+\}|:[A-Za-z_][A-Za-z0-9_]*\??)$/;

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function routeRegex(template: string): RegExp {
  if (template === '/') return /^\/$/;
  const body = template
    .split('/')
    .slice(1)
    .map((segment) => (PARAMETER.test(segment) ? '[^/]+' : segment === '*' ? '.*' : escapeRegex(segment)))
    .join('/');
  return new RegExp(`^/${body}/?$`);
}

function orderRoutes(templates: readonly string[]): string[] {
  const score = (template: string) => {
    const segments = template.split('/').slice(1);
    return { params: segments.filter((s) => PARAMETER.test(s) || s === '*').length, length: segments.length };
  };
  return [...templates].sort((a, b) => {
    const sa = score(a);
    const sb = score(b);
    return sa.params - sb.params || sb.length - sa.length || a.localeCompare(b);
  });
}

const ID_PLACEHOLDERS: readonly [RegExp, string][] = [
  [/\/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(\/|$)/g, '/{uuid}$1'],
  [/\/[0-9a-fA-F]{16,}(\/|$)/g, '/{hash}$1'],
  [/\/[0-9]+(\/|$)/g, '/{id}$1'],
  [/\/(?:[A-Za-z_-]*[0-9]){2}[A-Za-z0-9_-]*(\/|$)/g, '/{id}$1'],
];
const PLACEHOLDER_PASSES = 2;

export type PathNormaliser = (path: string) => string;

export function createPathNormaliser(templates: readonly string[]): PathNormaliser {
  const compiled = orderRoutes(templates).map((template) => [template, routeRegex(template)] as const);
  return (path) => {
    const bare = path.split('?')[0]!;
    for (const [template, regex] of compiled) if (regex.test(bare)) return template;
    let route = bare;
    for (let pass = 0; pass < PLACEHOLDER_PASSES; pass++) {
      for (const [pattern, replacement] of ID_PLACEHOLDERS) route = route.replace(pattern, replacement);
    }
    return route;
  };
}

const FRAMEWORK_PARAMETER = /:([A-Za-z_$][\w$]*)(?:\([^)]*\))?\??|\*([A-Za-z_$][\w$]*)/g;

/**
 * A framework's route template (Express, Koa's router and Fastify write `/products/:productId`,
 * `:id?`, `:id(\\d+)` or `*rest`) in the `{param}` form of the spec, its SLO selectors and the
 * Collector's route statements, so the label is the same whichever side names the route.
 */
export function canonicalRoute(template: string): string {
  return template.replace(FRAMEWORK_PARAMETER, (_match, name?: string, rest?: string) => `{${name ?? rest}}`);
}

/** A template with its parameter names blanked: `/orders/:id` and `/orders/{orderId}` are one route. */
export function routeShape(template: string): string {
  const shape = canonicalRoute(template).replace(/\{[^/{}]+\}/g, '{}');
  return shape.length > 1 && shape.endsWith('/') ? shape.slice(0, -1) : shape;
}

/**
 * Route labels from framework templates: the declared template of the same shape, as the spec
 * writes it (which is what the Collector's statements and the SLO selectors use), else the
 * `{param}` form. Memoised: apps have few templates, and this runs per request.
 */
export function createRouteLabeller(declared: readonly string[]): (template: string) => string {
  const byShape = new Map(declared.map((template) => [routeShape(template), template]));
  const labels = new Map<string, string>();
  return (template) => {
    let label = labels.get(template);
    if (label === undefined) {
      label = byShape.get(routeShape(template)) ?? canonicalRoute(template);
      if (labels.size < 5000) labels.set(template, label);
    }
    return label;
  };
}
