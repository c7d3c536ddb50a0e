import fc from 'fast-check';
import { specSchema, type SpecInput } from '../../generator/spec/schema.ts';

/**
 * Specs generated from the schema: every field the schema has, with values across the whole range
 * it accepts (zero, one, the extremes, durations in every unit and up to Go's limit), repaired
 * afterwards so that most also pass the cross-field rules (receivers and teams that exist, SLO
 * routes among the service's). The rest are still useful: they must be rejected cleanly.
 */

const shape = specSchema.shape;
const serviceShape = shape.services.element.shape;
const RUNTIMES = serviceShape.runtime.options;
const KINDS = serviceShape.kind.def.innerType.options;
const DEPENDENCY_KINDS = serviceShape.dependencies.def.innerType.element.shape.kind.options;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const UNITS = ['ms', 's', 'm', 'h', 'd', 'w', 'y'] as const;
const UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31536e6 } as const;
/** Go's time.Duration limit, in ms (about 292 years). */
const GO_LIMIT_MS = 9_223_372_036_853;

/** A duration between `minMs` and `maxMs`, written in a random unit that expresses it exactly. */
export function duration(minMs: number, maxMs: number): fc.Arbitrary<string> {
  const limit = Math.min(maxMs, GO_LIMIT_MS);
  return fc
    .tuple(fc.constantFrom(...UNITS), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean())
    .map(([unit, fraction, edge]) => {
      const step = UNIT_MS[unit];
      const low = Math.ceil(minMs / step);
      const high = Math.floor(limit / step);
      if (high < low) return `${Math.ceil(minMs)}ms`;
      // half the time a round value near the bottom, half spread over the whole range
      const span = edge ? high - low : Math.min(high - low, 100);
      return `${low + Math.floor(fraction * span)}${unit}`;
    });
}

const name = (max = 63) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/) },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/) },
    {
      weight: 1,
      arbitrary: fc.stringMatching(new RegExp(`^[a-z][a-z0-9-]{${Math.max(0, max - 30)},${max - 1}}$`)),
    },
  );

/** Names the stack already uses, which a service or receiver may well be called too. */
const TRICKY_NAMES = [
  'prometheus',
  'loki',
  'tempo',
  'alertmanager',
  'otel-collector',
  'grafana',
  'api',
  'api-slow-burn',
];

const serviceName = fc.oneof(
  { weight: 9, arbitrary: name(40) },
  { weight: 1, arbitrary: fc.constantFrom(...TRICKY_NAMES) },
);

const route = fc
  .array(fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), fc.constantFrom('{id}', ':id', '{orderId}', 'v1')), {
    minLength: 0,
    maxLength: 4,
  })
  .map((parts) => `/${parts.join('/')}`);

const resilience = fc.record(
  {
    // now and then a timeout near Go's limit, whose retries then add up past it
    timeout: fc.oneof(
      { weight: 9, arbitrary: duration(1, 120_000) },
      { weight: 1, arbitrary: duration(1, GO_LIMIT_MS) },
    ),
    retry: fc.record(
      { max_attempts: fc.integer({ min: 1, max: 10 }), backoff: duration(0, 10_000) },
      { requiredKeys: [] },
    ),
    circuit_breaker: fc.record(
      {
        failure_rate_threshold: fc.double({ min: 0.01, max: 1, noNaN: true }),
        open_duration: duration(1, 3_600_000),
      },
      { requiredKeys: [] },
    ),
    bulkhead: fc.record({ max_concurrent: fc.integer({ min: 1, max: 10_000 }) }),
  },
  { requiredKeys: [] },
);

const dependency = fc.record(
  {
    name: name(30),
    kind: fc.constantFrom(...DEPENDENCY_KINDS),
    system: fc.constantFrom('postgresql', 'redis', 'kafka', 'mysql', 'http'),
    critical: fc.boolean(),
    resilience,
  },
  { requiredKeys: ['name', 'kind'] },
);

const slo = fc
  .record({
    name: name(30),
    kind: fc.constantFrom('availability' as const, 'latency' as const),
    // low objectives are rejected (the fastest burn alert could never fire): mostly realistic ones
    objective: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(99, 99.5, 99.9, 99.95, 99.99) },
      {
        weight: 1,
        arbitrary: fc.double({ min: 90, max: 99.999, noNaN: true }).map((v) => Number(v.toFixed(3))),
      },
    ),
    period: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('28d', '30d', '4w', '90d') },
      { weight: 1, arbitrary: duration(7 * 864e5, 366 * 864e5) },
    ),
    threshold: duration(1, 60_000),
    description: fc.string({ maxLength: 40 }),
    routeCount: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ kind, threshold, routeCount, ...rest }) => ({
    ...rest,
    kind,
    ...(kind === 'latency' ? { threshold } : {}),
    routeCount,
  }));

const service = fc.record(
  {
    name: serviceName,
    description: fc.string({ maxLength: 60 }),
    runtime: fc.constantFrom(...RUNTIMES),
    kind: fc.constantFrom(...KINDS),
    module: fc.constantFrom('esm' as const, 'commonjs' as const),
    team: fc.constantFrom('core', 'payments', 'platform-team'),
    owners: fc.array(
      fc.record(
        {
          name: fc.string({ minLength: 1, maxLength: 20 }),
          email: fc.constant('oncall@example.com'),
          slack: fc.constant('#oncall'),
        },
        { requiredKeys: ['name'] },
      ),
      { maxLength: 2 },
    ),
    frontends: fc.uniqueArray(name(20), { maxLength: 3 }),
    routes: fc.uniqueArray(route, { maxLength: 6 }),
    dependencies: fc.uniqueArray(dependency, { maxLength: 3, selector: (d) => d.name }),
    slos: fc.uniqueArray(slo, { maxLength: 3, selector: (s) => s.name }),
    metrics_endpoint: fc.record(
      {
        port: fc.integer({ min: 1, max: 65535 }),
        path: fc.constantFrom('/metrics', '/prom', '/'),
        host: fc.constantFrom('host.docker.internal', 'app'),
      },
      { requiredKeys: ['port'] },
    ),
    admin: fc.record(
      {
        port: fc.integer({ min: 1, max: 65535 }),
        bind: fc.constantFrom('127.0.0.1', '0.0.0.0'),
        metrics: fc.boolean(),
        event_loop_delay_threshold: duration(1, 60_000),
      },
      { requiredKeys: ['port'] },
    ),
  },
  { requiredKeys: ['name', 'runtime', 'team'] },
);

const receiver = fc.oneof(
  fc.record({
    name: name(20),
    type: fc.constant('webhook' as const),
    url: fc.constant('https://hooks.example.com/otelkit'),
  }),
  fc.record({
    name: name(20),
    type: fc.constant('webhook' as const),
    url_file: fc.constant('/etc/alertmanager/secrets/webhook-url'),
  }),
  fc.record({
    name: name(20),
    type: fc.constant('slack' as const),
    channel: fc.constantFrom('#alerts', '#payments-oncall'),
    api_url_file: fc.constant('/etc/alertmanager/secrets/slack-url'),
  }),
  fc.record(
    {
      name: name(20),
      type: fc.constant('email' as const),
      to: fc.constant('oncall@example.com'),
      from: fc.constant('alerts@example.com'),
      smarthost: fc.constant('smtp.example.com:587'),
      auth_username: fc.constant('alerts'),
      auth_password_file: fc.constant('/etc/alertmanager/secrets/smtp-password'),
    },
    { requiredKeys: ['name', 'type', 'to', 'from', 'smarthost'] },
  ),
  fc.record({
    name: name(20),
    type: fc.constant('pagerduty' as const),
    routing_key_file: fc.constant('/etc/alertmanager/secrets/pd-key'),
  }),
);

const signals = fc.record(
  {
    traces: fc.record(
      {
        sampling: fc.record(
          {
            keep_errors: fc.boolean(),
            slow_threshold: duration(1, 600_000),
            base_rate: fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })),
            decision_wait: duration(0, 2 * 864e5),
          },
          { requiredKeys: [] },
        ),
        retention: duration(36e5, GO_LIMIT_MS),
      },
      { requiredKeys: [] },
    ),
    logs: fc.record(
      {
        level: fc.constantFrom(...LOG_LEVELS),
        classes: fc.record(
          {
            application: fc.record({ retention: duration(864e5, GO_LIMIT_MS) }),
            access: fc.record({ retention: duration(864e5, GO_LIMIT_MS) }),
            audit: fc.record({ retention: duration(864e5, GO_LIMIT_MS) }),
            debug: fc.record({ retention: duration(864e5, GO_LIMIT_MS) }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    metrics: fc.record(
      {
        retention: duration(864e5, GO_LIMIT_MS),
        scrape_interval: fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom('5s', '10s', '15s') },
          { weight: 1, arbitrary: duration(1, 60_000) },
        ),
        histogram_buckets: fc.uniqueArray(duration(0, 600_000), { minLength: 1, maxLength: 12 }),
        cardinality: fc.record(
          {
            max_routes_per_service: fc.integer({ min: 6, max: 1000 }),
            max_series_per_metric: fc.integer({ min: 100, max: 1_000_000 }),
          },
          { requiredKeys: [] },
        ),
        resource_attributes: fc.uniqueArray(
          fc.constantFrom('cloud.region', 'k8s.pod.name', 'host.name', 'team'),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const redaction = fc.record(
  {
    blocked_keys: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z_-]{0,15}$/), { maxLength: 4 }),
    allowed_keys: fc.uniqueArray(fc.constantFrom('token', 'session_id', 'cookie', 'x-api-key'), {
      maxLength: 2,
    }),
    patterns: fc.record(
      { email: fc.boolean(), card_number: fc.boolean(), bearer_token: fc.boolean(), api_key: fc.boolean() },
      { requiredKeys: [] },
    ),
    custom_patterns: fc.uniqueArray(
      fc.record({
        name: name(20),
        regex: fc.constantFrom(
          '[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}',
          '\\bsecret-[a-z0-9]+\\b',
          '(?i)password=\\S+',
          'x',
        ),
      }),
      { maxLength: 2, selector: (p) => p.name },
    ),
  },
  { requiredKeys: [] },
);

const alerting = fc.record(
  {
    receivers: fc.uniqueArray(receiver, { minLength: 1, maxLength: 3, selector: (r) => r.name }),
    routes: fc.array(
      fc.record(
        {
          receiverIndex: fc.nat(),
          teamIndex: fc.option(fc.nat(), { nil: undefined }),
          severity: fc.uniqueArray(
            fc.constantFrom('critical' as const, 'warning' as const, 'info' as const),
            { minLength: 1, maxLength: 3 },
          ),
          continue: fc.boolean(),
        },
        { requiredKeys: ['receiverIndex'] },
      ),
      { maxLength: 3 },
    ),
    group_wait: duration(0, 3_600_000),
    group_interval: duration(1, 864e5),
    repeat_interval: duration(1, 7 * 864e5),
    slo_min_requests_per_hour: fc.integer({ min: 0, max: 10_000 }),
  },
  { requiredKeys: ['receivers'] },
);

const collector = fc.record(
  {
    mode: fc.constantFrom('single' as const, 'gateway' as const),
    gateway_replicas: fc.integer({ min: 1, max: 16 }),
    memory_limit_mib: fc.integer({ min: 64, max: 65_536 }),
    persistent_queue: fc.record(
      {
        enabled: fc.boolean(),
        directory: fc.constantFrom('/var/lib/otelcol/queue', '/data/q'),
        queue_size: fc.integer({ min: 100, max: 1_000_000 }),
      },
      { requiredKeys: [] },
    ),
    debug_exporter: fc.boolean(),
  },
  { requiredKeys: [] },
);

const ms = (text: string) => {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text)!;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
};

/** A spec object as a user would write it (YAML or TypeScript), mostly consistent across fields. */
export const specArbitrary: fc.Arbitrary<SpecInput> = fc
  .record(
    {
      project: name(63),
      environment: name(20),
      services: fc.uniqueArray(service, { minLength: 1, maxLength: 4, selector: (s) => s.name }),
      signals,
      redaction,
      alerting,
      runbooks: fc.record({
        base_url: fc.constantFrom('https://git.example.com/ops/runbooks', 'http://wiki.example.com/rb/'),
      }),
      collector,
    },
    { requiredKeys: ['project', 'services', 'alerting'] },
  )
  .map((raw) => {
    const services = raw.services.map((s, index, all) => {
      const { slos = [], dependencies = [], routes = [], frontends = [], admin, ...rest } = s;
      const http = (s.kind ?? 'http') === 'http';
      return {
        ...rest,
        ...(http ? { routes, frontends } : {}),
        ...(admin && s.runtime === 'node' ? { admin } : {}),
        dependencies: dependencies.map((d, i) => {
          if (d.kind !== 'service') return d;
          const other = all[(index + i + 1) % all.length]!;
          return other.name === s.name ? { ...d, kind: 'http' as const } : { ...d, service: other.name };
        }),
        slos: slos.map(({ routeCount, ...o }) => ({
          ...o,
          ...(http && routeCount > 0 && routes.length > 0 ? { routes: routes.slice(0, routeCount) } : {}),
        })),
      };
    });
    const receivers = raw.alerting.receivers;
    const teams = [...new Set(services.map((s) => s.team))];
    const alertingOut = {
      ...raw.alerting,
      default_receiver: receivers[0]!.name,
      routes: (raw.alerting.routes ?? []).map(({ receiverIndex, teamIndex, ...r }) => ({
        ...r,
        receiver: receivers[receiverIndex % receivers.length]!.name,
        ...(teamIndex === undefined ? {} : { team: teams[teamIndex % teams.length]! }),
      })),
    };
    // metric retention must cover every SLO period; lift it rather than lose the case
    const longest = Math.max(0, ...services.flatMap((s) => s.slos.map((o) => ms(o.period ?? '30d'))));
    const metrics = raw.signals?.metrics ?? {};
    const retention = metrics.retention ?? '30d';
    const signalsOut = {
      ...raw.signals,
      metrics: { ...metrics, retention: ms(retention) < longest ? `${longest}ms` : retention },
    };
    return {
      version: 1,
      ...raw,
      services,
      alerting: alertingOut,
      signals: signalsOut,
    } as SpecInput;
  });
