import { z } from 'zod';
import { RUNTIMES, SEVERITIES } from '../model/model.ts';
import { DOCKER_HOST } from '../model/conventions.ts';
import { DAY_MS, DURATION_HINT, MAX_DURATION_MS, formatDuration, parseDuration } from '../model/duration.ts';
import {
  MAX_GATEWAY_REPLICAS,
  MIN_GATEWAY_REPLICAS,
  MIN_MEMORY_LIMIT_MIB,
  MIN_QUEUE_BATCHES,
  MIN_QUEUE_VOLUME_GIB,
  QUEUE_BATCH_ITEMS,
} from '../model/capacity.ts';
import { PINNED, SUPPORTED, type Component } from '../model/versions.ts';

/**
 * The spec as users write it. Every default lives here (zod `.default`), so the JSON Schema,
 * the README reference and the normaliser all agree. Objects are strict: an unknown key is an error.
 */

const NAME_HINT = 'use lower-case letters, digits and "-", starting with a letter, at most 63 characters';
const name = (what: string) =>
  z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, { error: `${what} must be a simple name; ${NAME_HINT}` })
    .describe(`${what}; lower-case letters, digits and "-"`);

const duration = (what: string) =>
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? undefined
          : `${what} needs a number with a unit, got ${JSON.stringify(issue.input)}; ${DURATION_HINT}`,
    })
    .refine((text) => parseDuration(text) !== undefined, {
      error: (issue) => `${what} ${JSON.stringify(issue.input)} is not a duration; ${DURATION_HINT}`,
      abort: true,
    })
    .refine((text) => parseDuration(text)! <= MAX_DURATION_MS, {
      error: (issue) =>
        `${what} ${JSON.stringify(issue.input)} is longer than ${formatDuration(MAX_DURATION_MS - (MAX_DURATION_MS % DAY_MS))}, the most a Go duration holds (about 292 years); use a shorter one`,
    })
    .describe(`${what}, e.g. "30s", "5m", "14d"`);

const percent = (what: string) =>
  z
    .number({ error: `${what} must be a number of percent; write e.g. 99.9` })
    .gt(0, { error: `${what} must be above 0 percent; write e.g. 99.9` })
    .lt(100, { error: `${what} must be below 100 percent (100% leaves no error budget); write e.g. 99.9` })
    .describe(`${what} in percent, e.g. 99.9`);

const routeTemplate = z
  .string()
  .regex(/^\/[A-Za-z0-9._~\-/{}:*]*$/, {
    error:
      'a route template starts with "/" and holds only path characters; write parameters as {id} or :id, e.g. "/orders/{orderId}"',
  })
  .describe('HTTP route template, e.g. "/orders/{orderId}" or "/orders/:orderId"');

const owner = z
  .strictObject({
    name: z.string().min(1).describe('person or rotation name'),
    email: z
      .email({ error: 'owners[].email must be an e-mail address; write e.g. "team@example.com"' })
      .optional()
      .describe('e-mail address'),
    slack: z
      .string()
      .regex(/^#[a-z0-9_-]+$/, { error: 'owners[].slack must be a channel such as "#payments-oncall"' })
      .optional()
      .describe('Slack channel'),
  })
  .describe('someone to escalate to; shown in runbooks');

const retry = z.strictObject({
  max_attempts: z.int().min(1).max(10).default(3).describe('attempts including the first'),
  backoff: duration('initial backoff').default('100ms'),
});

const circuitBreaker = z.strictObject({
  failure_rate_threshold: z
    .number()
    .gt(0)
    .max(1, { error: 'failure_rate_threshold is a fraction between 0 and 1, e.g. 0.5' })
    .default(0.5)
    .describe('fraction of failed calls that opens the breaker'),
  open_duration: duration('time the breaker stays open before a half-open probe').default('30s'),
});

const resilience = z
  .strictObject({
    timeout: duration('call timeout').optional(),
    retry: retry.optional(),
    circuit_breaker: circuitBreaker.optional(),
    bulkhead: z
      .strictObject({
        max_concurrent: z.int().min(1).describe('concurrent calls allowed before rejecting'),
      })
      .optional(),
  })
  .describe('resilience settings of calls to this dependency; drive resilience alerts and dashboards');

const dependency = z.strictObject({
  name: name('dependency name'),
  kind: z.enum(['database', 'cache', 'http', 'queue', 'service']).describe('what sort of thing is called'),
  system: z
    .string()
    .regex(/^[a-z0-9_.-]+$/)
    .optional()
    .describe('db.system / messaging.system style name, e.g. postgresql, redis, kafka'),
  service: z.string().optional().describe('for kind "service": the name of another service in this spec'),
  critical: z.boolean().default(false).describe('readiness fails while this dependency is unavailable'),
  resilience: resilience.optional(),
});

const sloBase = {
  name: name('SLO name'),
  objective: percent('objective'),
  period: duration('SLO period').default('30d'),
  description: z.string().optional(),
  routes: z.array(routeTemplate).optional().describe('limit the SLI to these routes; all routes when absent'),
};

const slo = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('availability').describe('share of requests that do not fail with a 5xx'),
      ...sloBase,
    }),
    z.strictObject({
      kind: z.literal('latency').describe('share of requests faster than threshold'),
      ...sloBase,
      threshold: duration('latency threshold'),
    }),
  ],
  { error: 'SLO kind must be "availability" or "latency"; use one of those' },
);

const service = z.strictObject({
  name: name('service name'),
  description: z.string().optional().describe('one line shown in dashboards and runbooks'),
  runtime: z.enum(RUNTIMES).describe('language runtime; node services get a generated preload'),
  kind: z.enum(['http', 'worker']).default('http').describe('http serves requests; worker consumes jobs'),
  module: z
    .enum(['esm', 'commonjs'])
    .default('esm')
    .describe('node only: how the app is loaded (--import for esm, --require for commonjs)'),
  team: name('team').describe('owning team; alerts route by it'),
  owners: z.array(owner).default([]).describe('people to escalate to, named in runbooks'),
  frontends: z
    .array(name('frontend name'))
    .default([])
    .describe('allow-list of X-Frontend-ID values; anything else is recorded as "unknown"'),
  routes: z
    .array(routeTemplate)
    .default([])
    .describe('route templates used to name requests when the framework does not'),
  dependencies: z.array(dependency).default([]).describe('what this service calls'),
  slos: z.array(slo).default([]).describe('service level objectives; each gets burn-rate alerts'),
  metrics_endpoint: z
    .strictObject({
      port: z.int().min(1).max(65535),
      path: z.string().startsWith('/').default('/metrics'),
      host: z.string().default(DOCKER_HOST),
    })
    .optional()
    .describe('a Prometheus /metrics endpoint of the app to scrape'),
  admin: z
    .strictObject({
      port: z.int().min(1).max(65535).describe("port of the admin endpoint, apart from the app's own"),
      bind: z
        .string()
        .default('127.0.0.1')
        .describe('address to listen on; off loopback, /health/detailed and /metrics need the bearer token'),
      token_env: z
        .string()
        .regex(/^[A-Z_][A-Z0-9_]*$/, {
          error: 'token_env must be an environment variable name; write e.g. OTELKIT_ADMIN_TOKEN',
        })
        .default('OTELKIT_ADMIN_TOKEN')
        .describe('environment variable holding the bearer token (the token itself never goes in the spec)'),
      metrics: z
        .boolean()
        .default(false)
        .describe("also serve Prometheus /metrics with the preload's metrics"),
      event_loop_delay_threshold: duration('event loop delay threshold')
        .default('500ms')
        .describe('/readyz answers 503 while the event loop delay (p99 over a second) stays above this'),
    })
    .optional()
    .describe('node only: /livez, /readyz, /health/detailed and optional /metrics served by the preload'),
});

const logClass = (defaultRetention: string) =>
  z.strictObject({ retention: duration('retention').default(defaultRetention) }).prefault({});

const signals = z
  .strictObject({
    traces: z
      .strictObject({
        sampling: z
          .strictObject({
            keep_errors: z.boolean().default(true).describe('keep every trace with an error span'),
            slow_threshold: duration('traces slower than this are always kept').default('1s'),
            base_rate: z
              .number()
              .min(0)
              .max(1, { error: 'base_rate is a fraction of traces, at most 1; write e.g. 0.1 for 10%' })
              .default(0.1)
              .describe('fraction of the remaining traces kept'),
            decision_wait: duration(
              "how long the Collector waits for a trace to complete (at least; longer when a request that exhausts its dependencies' timeouts and retries would outlast it)",
            ).default('10s'),
          })
          .prefault({}),
        retention: duration('trace retention').default('14d'),
      })
      .prefault({}),
    logs: z
      .strictObject({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
        classes: z
          .strictObject({
            application: logClass('30d'),
            access: logClass('90d'),
            audit: logClass('1y'),
            debug: logClass('7d'),
          })
          .prefault({}),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        retention: duration('metric retention').default('30d'),
        scrape_interval: duration('scrape and export interval').default('15s'),
        histogram_buckets: z
          .array(duration('bucket boundary'))
          .min(1)
          .default(['5ms', '10ms', '25ms', '50ms', '100ms', '250ms', '500ms', '1s', '2500ms', '5s', '10s'])
          .describe('latency histogram boundaries; SLO thresholds are added automatically'),
        cardinality: z
          .strictObject({
            max_routes_per_service: z.int().min(1).default(100),
            max_series_per_metric: z.int().min(100).default(10000),
          })
          .prefault({}),
        resource_attributes: z
          .array(z.string().regex(/^[a-z][a-z0-9_.]*$/))
          .default([])
          .describe('extra resource attributes promoted to Prometheus labels'),
      })
      .prefault({}),
  })
  .describe('how traces, logs and metrics are sampled, classified and kept');

const valuePattern = z.strictObject({
  name: name('pattern name'),
  regex: z.string().min(1).describe('RE2 regular expression (no look-around, no back-references)'),
});

const redaction = z
  .strictObject({
    blocked_keys: z
      .array(z.string().min(1))
      .default([])
      .describe('attribute/field names never exported (case-insensitive); added to the built-in list'),
    allowed_keys: z
      .array(z.string().min(1))
      .default([])
      .describe('names exempt from the built-in blocked list'),
    patterns: z
      .strictObject({
        email: z.boolean().default(true),
        card_number: z.boolean().default(true),
        bearer_token: z.boolean().default(true),
        api_key: z.boolean().default(true),
      })
      .prefault({})
      .describe('built-in value patterns masked wherever they appear'),
    custom_patterns: z.array(valuePattern).default([]).describe('extra value patterns to mask, e.g. IBANs'),
  })
  .prefault({});

const secretFile = (what: string) =>
  z
    .string()
    .startsWith('/', { error: `${what} must be an absolute path to a file mounted into Alertmanager` })
    .describe(`absolute path of a file holding the ${what}; secrets never go in the spec`);

const receiver = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      name: name('receiver name'),
      type: z.literal('webhook'),
      url: z.url({ error: 'url must be an http(s) URL' }).optional(),
      url_file: secretFile('webhook URL').optional(),
    }),
    z.strictObject({
      name: name('receiver name'),
      type: z.literal('slack'),
      channel: z.string().regex(/^#[a-z0-9_-]+$/, { error: 'channel must look like "#alerts"' }),
      api_url_file: secretFile('Slack webhook URL'),
    }),
    z.strictObject({
      name: name('receiver name'),
      type: z.literal('email'),
      to: z.email(),
      from: z.email(),
      smarthost: z.string().regex(/^[^:\s]+:\d+$/, { error: 'smarthost must be host:port' }),
      auth_username: z.string().optional(),
      auth_password_file: secretFile('SMTP password').optional(),
    }),
    z.strictObject({
      name: name('receiver name'),
      type: z.literal('pagerduty'),
      routing_key_file: secretFile('PagerDuty routing key'),
    }),
  ],
  { error: 'receiver type must be one of webhook, slack, email, pagerduty; use one of those' },
);

const route = z.strictObject({
  receiver: z.string().describe('name of a receiver above'),
  team: z.string().optional().describe('match alerts of services owned by this team'),
  severity: z.array(z.enum(SEVERITIES)).optional().describe('match these severities'),
  continue: z.boolean().default(false).describe('keep matching later routes'),
});

const alerting = z
  .strictObject({
    default_receiver: z.string().describe('receiver for alerts no route matches'),
    receivers: z.array(receiver).min(1, { error: 'no receivers; add at least one, e.g. a webhook' }),
    routes: z.array(route).default([]),
    group_wait: duration('group_wait').default('30s'),
    group_interval: duration('group_interval').default('5m'),
    repeat_interval: duration('repeat_interval').default('4h'),
    slo_min_requests_per_hour: z
      .int()
      .min(0)
      .default(60)
      .describe('SLO burn-rate alerts stay silent below this traffic, where a few failures swing the ratio'),
  })
  .describe('where alerts go');

const collector = z
  .strictObject({
    mode: z
      .enum(['single', 'gateway'])
      .default('single')
      .describe('single: one Collector; gateway: agents forward by trace id to tail-sampling gateways'),
    gateway_replicas: z
      .int()
      .min(1)
      .max(MAX_GATEWAY_REPLICAS)
      .optional()
      .describe(
        `gateway mode: number of gateway Collectors (default: sized from expected_load, at least ${MIN_GATEWAY_REPLICAS})`,
      ),
    memory_limit_mib: z
      .int()
      .min(64)
      .optional()
      .describe(
        `hard memory limit of each Collector process (default: sized from expected_load and the tail samplers' wait, at least ${MIN_MEMORY_LIMIT_MIB})`,
      ),
    expected_load: z
      .strictObject({
        spans_per_second: z
          .int()
          .min(1)
          .max(100_000_000)
          .default(1000)
          .describe('peak spans per second of all services together'),
        spans_per_trace: z
          .int()
          .min(1)
          .max(100_000)
          .default(10)
          .describe(
            'average spans per trace; spans_per_second / spans_per_trace traces per second size the tail samplers so that none is evicted before its sampling decision',
          ),
        log_records_per_second: z
          .int()
          .min(0)
          .max(100_000_000)
          .default(1000)
          .describe('peak log records per second of all services together'),
        data_points_per_second: z
          .int()
          .min(0)
          .max(100_000_000)
          .default(1000)
          .describe('peak metric data points per second the services send over OTLP'),
      })
      .prefault({})
      .describe(
        'the load the Collectors are sized for: gateway replicas, memory limits, tail-sampler and queue sizes; validate warns when set values cannot carry it',
      ),
    persistent_queue: z
      .strictObject({
        enabled: z.boolean().default(true).describe('keep unsent data on disk across outages and restarts'),
        directory: z.string().startsWith('/').default('/var/lib/otelcol/queue'),
        queue_size: z
          .int()
          .min(100)
          .optional()
          .describe(
            `batches of ${QUEUE_BATCH_ITEMS} items (spans, points, log records) kept per exporter (default: the outage at expected_load, at least ${MIN_QUEUE_BATCHES}, within the queue volume or memory)`,
          ),
        outage: duration('backend outage the exporter queues hold expected_load through')
          .default('10m')
          .refine((text) => parseDuration(text)! >= 60_000, {
            error: 'the outage the queues ride out must be at least 1m; write e.g. "10m"',
          }),
      })
      .prefault({}),
    debug_exporter: z.boolean().default(false).describe('also print received telemetry to the Collector log'),
  })
  .prefault({});

const versionOverride = (component: Component) =>
  z
    .enum(SUPPORTED[component] as [string, ...string[]], {
      error: `unsupported ${component} version; this otelkit generates for ${SUPPORTED[component].join(', ')} — remove the override or use one of those`,
    })
    .optional()
    .describe(`pinned ${component} version (default ${PINNED[component]})`);

const versions = z
  .strictObject({
    collector: versionOverride('collector'),
    prometheus: versionOverride('prometheus'),
    alertmanager: versionOverride('alertmanager'),
    loki: versionOverride('loki'),
    tempo: versionOverride('tempo'),
    grafana: versionOverride('grafana'),
  })
  .prefault({});

const QUANTITY_HINT =
  'write a Kubernetes quantity, e.g. "500m" for CPU, "512Mi" or "10Gi" for memory and storage';
const quantity = (what: string) =>
  z
    .string({ error: `${what} must be a Kubernetes quantity; ${QUANTITY_HINT}` })
    .regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, {
      error: (issue) =>
        `${what} ${JSON.stringify(issue.input)} is not a Kubernetes quantity; ${QUANTITY_HINT}`,
    })
    .describe(`${what}, a Kubernetes quantity`);
const resources = (what: string, cpu: string, memory: string) =>
  z
    .strictObject({
      cpu: quantity(`${what} CPU request`).default(cpu),
      memory: quantity(`${what} memory request and limit`).default(memory),
    })
    .prefault({});
const image = (what: string, fallback = 'the upstream image at the pinned version') =>
  z
    .string()
    .regex(/^[a-z0-9][A-Za-z0-9._\-/:@]*$/, {
      error: `${what} must be an image reference; write e.g. "registry.example/otelcol-otelkit:${PINNED.collector}"`,
    })
    .optional()
    .describe(`${what} image (default: ${fallback})`);

const kubernetes = z
  .strictObject({
    namespace: name('kubernetes.namespace')
      .default('observability')
      .describe('namespace of the telemetry stack'),
    storage_class: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, {
        error:
          'kubernetes.storage_class must be a storage class name; use lower-case letters, digits, "-" and "."',
      })
      .optional()
      .describe('storage class of every volume claim (default: the cluster default)'),
    storage: z
      .strictObject({
        prometheus: quantity('Prometheus volume size').default('20Gi'),
        alertmanager: quantity('Alertmanager volume size').default('1Gi'),
        loki: quantity('Loki volume size').default('10Gi'),
        tempo: quantity('Tempo volume size').default('10Gi'),
        collector_queue: quantity('Collector persistent-queue volume size')
          .optional()
          .describe(
            `Collector persistent-queue volume size, a Kubernetes quantity (default: what collector.persistent_queue.outage of expected_load fills on the single Collector or each gateway, at least ${MIN_QUEUE_VOLUME_GIB}Gi)`,
          ),
      })
      .prefault({}),
    images: z
      .strictObject({
        collector: image(
          'Collector',
          'otelcol-otelkit at the pinned Collector version, the distribution built from stacks/collector/builder-config.yaml',
        ),
        prometheus: image('Prometheus'),
        alertmanager: image('Alertmanager'),
        loki: image('Loki'),
        tempo: image('Tempo'),
      })
      .prefault({}),
    resources: z
      .strictObject({
        prometheus: resources('Prometheus', '500m', '2Gi'),
        alertmanager: resources('Alertmanager', '50m', '128Mi'),
        loki: resources('Loki', '250m', '1Gi'),
        tempo: resources('Tempo', '250m', '1Gi'),
      })
      .prefault({})
      .describe(
        'Collector resources follow the Collector memory limit (collector.memory_limit_mib, or sized from collector.expected_load)',
      ),
    app_dir: z
      .string()
      .startsWith('/', { error: 'kubernetes.app_dir must be an absolute path; write e.g. "/app"' })
      .default('/app')
      .describe(
        "Node services: the app's directory in its image; the preload is mounted in its preload/ folder, so it resolves otelkit from the app's node_modules",
      ),
  })
  .prefault({})
  .describe('Kubernetes output (k8s/)');

export const SPEC_VERSION = 1;

export const specSchema = z
  .strictObject({
    version: z
      .literal(SPEC_VERSION, {
        error: (issue) =>
          issue.input === undefined
            ? `missing spec version; add "version: ${SPEC_VERSION}" at the top`
            : `unsupported spec version ${JSON.stringify(issue.input)}; this otelkit reads version ${SPEC_VERSION}`,
      })
      .describe('spec format version'),
    project: name('project name'),
    environment: name('environment').default('development').describe('deployment.environment.name'),
    services: z
      .array(service)
      .min(1, { error: 'the spec lists no services; add at least one under services' })
      .describe('the services to observe'),
    signals: signals.prefault({}),
    redaction,
    alerting,
    runbooks: z
      .strictObject({
        base_url: z
          .url({
            protocol: /^https?$/,
            error: 'runbooks.base_url must be an http(s) URL, e.g. a repo folder URL',
          })
          .describe('URL the runbooks/ folder is published at; each alert links to <base_url>/<Alert>.md'),
      })
      .optional(),
    collector,
    versions,
    kubernetes,
  })
  .describe('otelkit observability spec');

/** What users write (defaults optional). */
export type SpecInput = z.input<typeof specSchema>;
/** After defaults, before normalisation into the Model. */
export type ParsedSpec = z.output<typeof specSchema>;

/** Keys users sometimes try to put secrets in; named in the unknown-key message. */
export const SECRET_KEY_REPLACEMENTS: Readonly<Record<string, string>> = {
  api_url: 'api_url_file',
  routing_key: 'routing_key_file',
  service_key: 'routing_key_file',
  auth_password: 'auth_password_file',
  password: 'auth_password_file',
};
