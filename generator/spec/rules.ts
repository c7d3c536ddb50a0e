import { DOCKER_HOST } from '../model/conventions.ts';
import {
  SCRAPES_PER_WINDOW,
  burnWindows,
  describeWindow,
  errorRatioThreshold,
  minimumObjective,
  minimumPeriodMs,
  shortestBurnWindowMs,
} from '../model/slo.ts';
import { BACKEND_JOBS, buildCatalogue, type AlertDefinition } from '../alerting/catalogue.ts';
import { toModel } from './normalise.ts';
import { tailDecisionWaitMs } from '../model/sampling.ts';
import { prometheusConfig } from '../targets/prometheus.ts';
import { MAX_DURATION_MS, formatDuration, parseDuration } from '../model/duration.ts';
import type { PathSegment } from './diagnostics.ts';
import type { ParsedSpec } from './schema.ts';

/** A cross-field problem before it is located in the file. */
export interface RuleProblem {
  rule: string;
  path: PathSegment[];
  message: string;
  /** Point at the key rather than the value (for duplicates, the name key reads better). */
  key?: boolean;
}

interface Rule {
  name: string;
  check(spec: ParsedSpec): RuleProblem[];
}

const ms = (text: string) => parseDuration(text) ?? 0;

/** Loki's compactor refuses a shorter retention_period or retention_stream period. */
export const LOKI_MIN_RETENTION_MS = 24 * 3_600_000;
/**
 * Shortest trace retention: Tempo polls its block list every 5 minutes and warns (and its
 * -config.verify fails) when blocks may be deleted sooner; an hour leaves room for compaction.
 */
export const TEMPO_MIN_RETENTION_MS = 3_600_000;

function duplicates<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
): { index: number; first: number; key: string }[] {
  const seen = new Map<string, number>();
  const found: { index: number; first: number; key: string }[] = [];
  items.forEach((item, index) => {
    const key = keyOf(item);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, index);
    else found.push({ index, first, key });
  });
  return found;
}

/** Features Go's RE2 (used by the Collector) rejects; JavaScript accepts them, so check explicitly. */
const NON_RE2 = [
  { pattern: /\(\?[=!]/, what: 'look-ahead "(?=" / "(?!"' },
  { pattern: /\(\?<[=!]/, what: 'look-behind "(?<=" / "(?<!"' },
  { pattern: /\\[1-9]/, what: 'back-reference "\\1"' },
  { pattern: /\(\?<[A-Za-z]/, what: 'named group "(?<name>" (RE2 writes "(?P<name>")' },
];

export const RULES: readonly Rule[] = [
  {
    name: 'unique-service-names',
    check: (spec) =>
      duplicates(spec.services, (s) => s.name).map(({ index, first, key }) => ({
        rule: 'unique-service-names',
        path: ['services', index, 'name'],
        message: `duplicate service name "${key}" (also services[${first}]); rename one of them`,
      })),
  },
  {
    name: 'unique-names-within-service',
    check: (spec) =>
      spec.services.flatMap((service, s) => [
        ...duplicates(service.dependencies, (d) => d.name).map(({ index, key }) => ({
          rule: 'unique-names-within-service',
          path: ['services', s, 'dependencies', index, 'name'],
          message: `duplicate dependency "${key}" in service "${service.name}"; merge or rename them`,
        })),
        ...duplicates(service.slos, (o) => o.name).map(({ index, key }) => ({
          rule: 'unique-names-within-service',
          path: ['services', s, 'slos', index, 'name'],
          message: `duplicate SLO "${key}" in service "${service.name}"; rename one of them`,
        })),
        ...duplicates(service.routes, (r) => r).map(({ index, key }) => ({
          rule: 'unique-names-within-service',
          path: ['services', s, 'routes', index],
          message: `route "${key}" is listed twice; remove one`,
        })),
        ...duplicates(service.frontends, (f) => f).map(({ index, key }) => ({
          rule: 'unique-names-within-service',
          path: ['services', s, 'frontends', index],
          message: `frontend "${key}" is listed twice; remove one`,
        })),
      ]),
  },
  {
    name: 'known-dependency-service',
    check: (spec) => {
      const names = new Set(spec.services.map((s) => s.name));
      return spec.services.flatMap((service, s) =>
        service.dependencies.flatMap((dependency, d): RuleProblem[] => {
          const at = ['services', s, 'dependencies', d];
          if (dependency.kind !== 'service') {
            return dependency.service === undefined
              ? []
              : [
                  {
                    rule: 'known-dependency-service',
                    path: [...at, 'service'],
                    message: `"service" only applies to dependencies of kind "service"; remove it or set kind: service`,
                  },
                ];
          }
          if (dependency.service === undefined) {
            return [
              {
                rule: 'known-dependency-service',
                path: [...at, 'kind'],
                message: `a dependency of kind "service" names the service it calls; add service: <one of ${[...names].join(', ')}>`,
              },
            ];
          }
          if (dependency.service === service.name) {
            return [
              {
                rule: 'known-dependency-service',
                path: [...at, 'service'],
                message: `service "${service.name}" cannot depend on itself; name another service`,
              },
            ];
          }
          if (!names.has(dependency.service)) {
            return [
              {
                rule: 'known-dependency-service',
                path: [...at, 'service'],
                message: `unknown service "${dependency.service}"; use one of ${[...names].join(', ')} or add that service`,
              },
            ];
          }
          return [];
        }),
      );
    },
  },
  {
    name: 'admin-endpoint-needs-node',
    check: (spec) =>
      spec.services.flatMap((service, s) =>
        service.admin && service.runtime !== 'node'
          ? [
              {
                rule: 'admin-endpoint-needs-node',
                path: ['services', s, 'admin'],
                message: `service "${service.name}" runs on ${service.runtime}; the admin endpoint is served by the Node preload, so remove admin or serve health endpoints from the app`,
                key: true,
              },
            ]
          : [],
      ),
  },
  {
    name: 'worker-has-no-http-settings',
    check: (spec) =>
      spec.services.flatMap((service, s) =>
        service.kind === 'worker' && (service.frontends.length > 0 || service.routes.length > 0)
          ? [
              {
                rule: 'worker-has-no-http-settings',
                path: ['services', s, service.frontends.length > 0 ? 'frontends' : 'routes'],
                message: `service "${service.name}" is a worker, which serves no HTTP requests; remove frontends and routes or set kind: http`,
                key: true,
              },
            ]
          : [],
      ),
  },
  {
    name: 'route-limit',
    check: (spec) =>
      spec.services.flatMap((service, s) =>
        service.routes.length > spec.signals.metrics.cardinality.max_routes_per_service
          ? [
              {
                rule: 'route-limit',
                path: ['services', s, 'routes'],
                message: `${service.routes.length} routes exceed signals.metrics.cardinality.max_routes_per_service (${spec.signals.metrics.cardinality.max_routes_per_service}); merge routes or raise the limit`,
                key: true,
              },
            ]
          : [],
      ),
  },
  {
    name: 'slo-routes-known',
    check: (spec) =>
      spec.services.flatMap((service, s) =>
        service.slos.flatMap((slo, o) =>
          (slo.routes ?? []).flatMap((route, r) =>
            service.routes.includes(route)
              ? []
              : [
                  {
                    rule: 'slo-routes-known',
                    path: ['services', s, 'slos', o, 'routes', r],
                    message: `route "${route}" is not one of service "${service.name}"'s routes; add it to services[${s}].routes or fix the template`,
                  },
                ],
          ),
        ),
      ),
  },
  {
    name: 'slo-period-covers-burn-windows',
    check: (spec) =>
      spec.services.flatMap((service, s) =>
        service.slos.flatMap((slo, o) => {
          const scrapeMs = ms(spec.signals.metrics.scrape_interval);
          const shortest = shortestBurnWindowMs(ms(slo.period));
          return shortest < SCRAPES_PER_WINDOW * scrapeMs
            ? [
                {
                  rule: 'slo-period-covers-burn-windows',
                  path: ['services', s, 'slos', o, 'period'],
                  message: `SLO period ${slo.period} scales the shortest burn-rate window to ${formatDuration(shortest)}, less than ${SCRAPES_PER_WINDOW} scrapes of signals.metrics.scrape_interval (${spec.signals.metrics.scrape_interval}); use a period of at least ${formatDuration(minimumPeriodMs(scrapeMs))} or a shorter scrape_interval`,
                },
              ]
            : [];
        }),
      ),
  },
  {
    name: 'slo-alerts-can-fire',
    check: (spec) =>
      spec.services.flatMap((service, s) =>
        service.slos.flatMap((slo, o) => {
          const objective = slo.objective / 100;
          const dead = burnWindows(ms(slo.period)).filter((w) => errorRatioThreshold(w, objective) > 1);
          if (dead.length === 0) return [];
          const worst = dead[0]!;
          const factor = worst.factor;
          const floor = Math.ceil(minimumObjective() * 100_000) / 1000;
          return [
            {
              rule: 'slo-alerts-can-fire',
              path: ['services', s, 'slos', o, 'objective'],
              message: `objective ${slo.objective}% leaves a ${(100 - slo.objective).toFixed(3).replace(/\.?0+$/, '')}% budget, so the ${describeWindow(worst)} burn-rate alert (${factor.toFixed(1)}x) would need an error ratio above 100% and could never fire; use an objective of at least ${floor}%`,
            },
          ];
        }),
      ),
  },
  {
    name: 'retention-covers-slo-period',
    check: (spec) => {
      const retention = ms(spec.signals.metrics.retention);
      return spec.services.flatMap((service, s) =>
        service.slos.flatMap((slo, o) =>
          ms(slo.period) > retention
            ? [
                {
                  rule: 'retention-covers-slo-period',
                  path: ['services', s, 'slos', o, 'period'],
                  message: `SLO period ${slo.period} is longer than signals.metrics.retention (${spec.signals.metrics.retention}), so the error budget cannot be computed; raise the retention to at least ${slo.period} or shorten the period`,
                },
              ]
            : [],
        ),
      );
    },
  },
  {
    name: 're2-patterns',
    check: (spec) =>
      spec.redaction.custom_patterns.flatMap((pattern, p): RuleProblem[] => {
        const at = ['redaction', 'custom_patterns', p, 'regex'];
        const unsupported = NON_RE2.find((n) => n.pattern.test(pattern.regex));
        if (unsupported) {
          return [
            {
              rule: 're2-patterns',
              path: at,
              message: `pattern "${pattern.name}" uses a ${unsupported.what}, which the Collector's RE2 engine does not support; rewrite it without`,
            },
          ];
        }
        try {
          new RegExp(pattern.regex.replace(/^\(\?i\)/, ''));
          return [];
        } catch (error) {
          return [
            {
              rule: 're2-patterns',
              path: at,
              message: `pattern "${pattern.name}" is not a valid regular expression (${(error as Error).message.replace(/^Invalid regular expression: /, '')}); fix it`,
            },
          ];
        }
      }),
  },
  {
    name: 'known-receivers',
    check: (spec) => {
      const { alerting } = spec;
      const names = alerting.receivers.map((r) => r.name);
      const unknown = (receiver: string, path: PathSegment[]): RuleProblem[] =>
        names.includes(receiver)
          ? []
          : [
              {
                rule: 'known-receivers',
                path,
                message: `unknown receiver "${receiver}"; use one of ${names.join(', ')} or add it under alerting.receivers`,
              },
            ];
      return [
        ...duplicates(alerting.receivers, (r) => r.name).map(({ index, key }) => ({
          rule: 'known-receivers',
          path: ['alerting', 'receivers', index, 'name'],
          message: `duplicate receiver "${key}"; rename one of them`,
        })),
        ...unknown(alerting.default_receiver, ['alerting', 'default_receiver']),
        ...alerting.routes.flatMap((route, r) =>
          unknown(route.receiver, ['alerting', 'routes', r, 'receiver']),
        ),
      ];
    },
  },
  {
    name: 'known-route-teams',
    check: (spec) => {
      const teams = [...new Set(spec.services.map((s) => s.team))];
      return spec.alerting.routes.flatMap((route, r) =>
        route.team === undefined || teams.includes(route.team)
          ? []
          : [
              {
                rule: 'known-route-teams',
                path: ['alerting', 'routes', r, 'team'],
                message: `no service is owned by team "${route.team}", so this route never matches; use one of ${teams.join(', ')}`,
              },
            ],
      );
    },
  },
  {
    name: 'webhook-has-one-url',
    check: (spec) =>
      spec.alerting.receivers.flatMap((receiver, r) =>
        receiver.type === 'webhook' && (receiver.url === undefined) === (receiver.url_file === undefined)
          ? [
              {
                rule: 'webhook-has-one-url',
                path: ['alerting', 'receivers', r],
                message: `webhook receiver "${receiver.name}" needs exactly one of url or url_file; keep one`,
              },
            ]
          : [],
      ),
  },
  {
    // Alertmanager runs in the compose stack, where loopback is its own container.
    name: 'receiver-not-loopback',
    check: (spec) =>
      spec.alerting.receivers.flatMap((receiver, r): RuleProblem[] => {
        const target =
          receiver.type === 'webhook' && receiver.url !== undefined
            ? { key: 'url', host: new URL(receiver.url).hostname }
            : receiver.type === 'email'
              ? { key: 'smarthost', host: receiver.smarthost.replace(/:\d+$/, '') }
              : undefined;
        if (!target || !/^(localhost|.*\.localhost|127(\.\d+){3}|\[?::1?\]?|0\.0\.0\.0)$/i.test(target.host))
          return [];
        return [
          {
            rule: 'receiver-not-loopback',
            path: ['alerting', 'receivers', r, target.key],
            message: `${receiver.type} receiver "${receiver.name}" points at ${target.host}, which in the compose stack is Alertmanager's own container; use ${DOCKER_HOST} for a receiver on the Docker host, or the receiver's host name`,
          },
        ];
      }),
  },
  {
    name: 'backend-duration-ranges',
    check: (spec) => {
      const problems: RuleProblem[] = [];
      const below = (
        path: PathSegment[],
        value: string,
        minimumMs: number,
        why: string,
        inclusive = true,
      ) => {
        const short = inclusive ? ms(value) < minimumMs : ms(value) <= minimumMs;
        if (short) problems.push({ rule: 'backend-duration-ranges', path, message: why });
      };
      const { logs, traces, metrics } = spec.signals;
      for (const logClass of ['application', 'access', 'audit', 'debug'] as const) {
        const { retention } = logs.classes[logClass];
        below(
          ['signals', 'logs', 'classes', logClass, 'retention'],
          retention,
          LOKI_MIN_RETENTION_MS,
          `retention ${retention} is shorter than ${formatDuration(LOKI_MIN_RETENTION_MS)}, the least Loki's compactor accepts ("retention period must be >= 24h"); use 1d or more`,
        );
      }
      below(
        ['signals', 'traces', 'retention'],
        traces.retention,
        TEMPO_MIN_RETENTION_MS,
        `trace retention ${traces.retention} is shorter than ${formatDuration(TEMPO_MIN_RETENTION_MS)}; Tempo would delete blocks before its 5-minute block-list poll and compaction see them; use at least ${formatDuration(TEMPO_MIN_RETENTION_MS)}`,
      );
      below(
        ['signals', 'metrics', 'scrape_interval'],
        metrics.scrape_interval,
        0,
        `scrape_interval ${metrics.scrape_interval} is not above 0: it is the Collector's span-metrics flush interval and Prometheus' scrape interval, and a zero ticker stops the Collector; use e.g. 15s`,
        false,
      );
      for (const key of ['group_interval', 'repeat_interval'] as const) {
        below(
          ['alerting', key],
          spec.alerting[key],
          0,
          `${key} ${spec.alerting[key]} is not above 0, which Alertmanager rejects ("${key} cannot be zero"); use e.g. ${key === 'group_interval' ? '5m' : '4h'}`,
          false,
        );
      }
      return problems;
    },
  },
  {
    name: 'scrape-jobs-unique',
    check: (spec) => {
      const model = toModel(spec);
      const stack = new Set<string>(BACKEND_JOBS.map((b) => b.job));
      const jobs = prometheusConfig(model).scrape_configs.map((c) => c.job_name);
      return spec.services.flatMap((service, s): RuleProblem[] => {
        const job = service.metrics_endpoint ? jobs.find((j) => j === service.name) : undefined;
        return job !== undefined && stack.has(job)
          ? [
              {
                rule: 'scrape-jobs-unique',
                path: ['services', s, 'name'],
                message: `service "${service.name}" has a metrics_endpoint, so Prometheus would scrape it as job "${job}", which is already the stack's own ${job} job (stack jobs: ${[...stack].join(', ')}); rename the service`,
              },
            ]
          : [];
      });
    },
  },
  {
    name: 'generated-names-unique',
    check: (spec) => {
      const model = toModel(spec);
      const serviceIndex = (name: string | undefined) => spec.services.findIndex((s) => s.name === name);
      const problems: RuleProblem[] = [];
      // Alert names become runbook file names too, so two that differ only in case collide on
      // case-insensitive file systems (macOS, Windows).
      const seen = new Map<string, AlertDefinition>();
      const clashes = new Map<string, { owners: (string | undefined)[]; alerts: string[] }>();
      for (const definition of buildCatalogue(model).alerts) {
        const key = definition.rule.alert.toLowerCase();
        const first = seen.get(key);
        if (!first) {
          seen.set(key, definition);
          continue;
        }
        const owners = [first, definition].map((d) => d.runbook.service?.name);
        const pair = JSON.stringify(owners);
        const clash = clashes.get(pair) ?? { owners, alerts: [] };
        clash.alerts.push(
          first.rule.alert === definition.rule.alert
            ? JSON.stringify(definition.rule.alert)
            : `${JSON.stringify(first.rule.alert)}/${JSON.stringify(definition.rule.alert)}`,
        );
        clashes.set(pair, clash);
      }
      for (const { owners, alerts } of clashes.values()) {
        const index = serviceIndex(owners[1] ?? owners[0]);
        problems.push({
          rule: 'generated-names-unique',
          path: index < 0 ? ['services'] : ['services', index, 'name'],
          key: index < 0,
          message: `${describeOwners(owners)} both generate the alert${alerts.length === 1 ? '' : 's'} ${alerts.join(', ')} (alert names and runbook files join the PascalCased service, dependency and SLO names: "-" is dropped, each word capitalised, and case does not tell files apart on every disk); rename a service, dependency or SLO so they differ`,
        });
      }
      return problems;
    },
  },
  {
    name: 'decision-wait-fits',
    check: (spec) => {
      const model = toModel(spec);
      return model.services.flatMap((service, s): RuleProblem[] =>
        tailDecisionWaitMs({ ...model, services: [service] }) > MAX_DURATION_MS
          ? [
              {
                rule: 'decision-wait-fits',
                path: ['services', s, 'dependencies'],
                key: true,
                message: `service "${service.name}"'s calls can take longer in total than a Go duration holds (about 292 years: every attempt timing out, with doubling backoff), and the Collector's tail-sampling decision_wait is made to cover them; use shorter timeouts, fewer retries or a shorter backoff`,
              },
            ]
          : [],
      );
    },
  },
];

/** Rules that compute generated names and values run only on a spec the other rules accept. */
const NAMING_RULES = new Set(['scrape-jobs-unique', 'generated-names-unique', 'decision-wait-fits']);

export function checkRules(spec: ParsedSpec): RuleProblem[] {
  const problems = RULES.filter((rule) => !NAMING_RULES.has(rule.name)).flatMap((rule) => rule.check(spec));
  if (problems.length > 0) return problems;
  return RULES.filter((rule) => NAMING_RULES.has(rule.name)).flatMap((rule) => rule.check(spec));
}

function describeOwners(owners: (string | undefined)[]): string {
  const named = [...new Set(owners.map((o) => (o === undefined ? 'the stack' : `service "${o}"`)))];
  return named.length === 1 ? `two alerts of ${named[0]}` : named.join(' and ');
}
