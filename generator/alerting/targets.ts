import type { Model, ServiceModel } from '../model/model.ts';
import {
  PLATFORM_TEAM,
  annotations,
  counter,
  gauge,
  pascal,
  seriesLabels,
  type AlertDefinition,
  type Severity,
} from './definitions.ts';
import { alertCases } from './cases.ts';
import { BACKEND_JOBS } from './scrape-jobs.ts';
import { address } from '../model/topology.ts';

/** Backend health, owned by the platform team: a scrape target down, rules failing to evaluate. */

function targetDownAlert(
  model: Model,
  name: string,
  job: string,
  instance: string,
  severity: Severity,
  team: string,
  service: ServiceModel | undefined,
): AlertDefinition {
  const series = `up${seriesLabels({ instance, job })}`;
  return {
    file: 'targets',
    exprLabels: { instance, job },
    testEvaluation: '1m',
    rule: {
      alert: name,
      expr: `up{job="${job}"} == 0`,
      for: '2m',
      labels: { severity, team, alertgroup: 'targets' },
      annotations: annotations(
        model,
        name,
        `Prometheus cannot scrape ${job}.`,
        'Scrapes of {{ $labels.instance }} (job {{ $labels.job }}) have failed for 2 minutes.',
      ),
    },
    cases: alertCases({
      at: '5m',
      fires: [{ series, values: gauge(0, 10) }],
      silent: { name: 'stays silent on a blip shorter than for', input: [{ series, values: `1 0 1x10` }] },
      resolves: { input: [{ series, values: gauge(0, 6, { value: 1, steps: 6 }) }], resolvedAt: '8m' },
    }),
    runbook: {
      service,
      meaning: `Prometheus has failed to scrape ${job} at ${instance} for 2 minutes: it is down, not ready, or unreachable.`,
      causes: [
        'The process crashed or is restarting.',
        'It is not ready (still starting, or its storage is failing).',
        'Network or DNS trouble.',
      ],
      steps: [
        {
          text: 'Scrape status and the last error (Prometheus UI, Status → Targets), or:',
          language: 'promql',
          code: `up{job="${job}"}`,
        },
        {
          text:
            job === BACKEND_JOBS[0].job && model.collector.mode === 'gateway'
              ? 'Its logs (the compose service is the host part of `instance`: the agent, or a gateway `otel-collector-gateway-N`):'
              : 'Its logs:',
          language: 'sh',
          code: `docker compose logs --no-log-prefix --tail 200 ${service ? service.name : job}`,
        },
      ],
      resolution: ['Restart it; check its readiness endpoint and storage.'],
    },
  };
}

export function targetAlerts(model: Model): AlertDefinition[] {
  const backends = BACKEND_JOBS.map((b) =>
    targetDownAlert(model, `${pascal(b.title)}Down`, b.job, b.target, 'critical', PLATFORM_TEAM, undefined),
  );
  const apps = model.services
    .filter((s) => s.metricsEndpoint)
    .map((s) =>
      targetDownAlert(
        model,
        `${pascal(s.name)}MetricsTargetDown`,
        s.name,
        `${s.metricsEndpoint!.host}:${s.metricsEndpoint!.port}`,
        'warning',
        s.team,
        s,
      ),
    );
  const ruleFailures: AlertDefinition = {
    file: 'targets',
    exprLabels: { rule_group: 'slo-example' },
    testEvaluation: '1m',
    rule: {
      alert: 'PrometheusRuleEvaluationFailures',
      expr: 'sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total[5m])) > 0',
      for: '5m',
      labels: { severity: 'critical', team: PLATFORM_TEAM, alertgroup: 'targets' },
      annotations: annotations(
        model,
        'PrometheusRuleEvaluationFailures',
        'Prometheus fails to evaluate some rules.',
        'Rules of group {{ $labels.rule_group }} fail to evaluate, so their alerts cannot fire.',
      ),
    },
    cases: (() => {
      const series = `prometheus_rule_evaluation_failures_total${seriesLabels({ instance: address('prometheus', 'http', 'localhost'), job: 'prometheus', rule_group: 'slo-example' })}`;
      return [
        {
          name: 'fires',
          interval: '1m',
          input: [{ series, values: counter(1, 15) }],
          checks: [{ at: '10m', firing: true }],
        },
        {
          name: 'stays silent without failures',
          interval: '1m',
          input: [{ series, values: counter(0, 15) }],
          checks: [{ at: '10m', firing: false }],
        },
        {
          name: 'resolves',
          interval: '1m',
          input: [{ series, values: counter(1, 10, { perStep: 0, steps: 15 }) }],
          checks: [
            { at: '10m', firing: true },
            { at: '20m', firing: false },
          ],
        },
      ];
    })(),
    runbook: {
      service: undefined,
      meaning:
        'Prometheus cannot evaluate some recording or alerting rules: alerts depending on them are blind.',
      causes: ['A rule produces many-to-many matches or duplicate series.', 'Query timeouts under load.'],
      steps: [
        {
          text: 'Which groups fail:',
          language: 'promql',
          code: 'increase(prometheus_rule_evaluation_failures_total[15m]) > 0',
        },
        {
          text: 'The error text is in Prometheus’s log:',
          language: 'sh',
          code: 'docker compose logs --no-log-prefix prometheus | grep -i "evaluating rule failed"',
        },
      ],
      resolution: ['Fix the rule in the spec or generator, regenerate, reload Prometheus.'],
    },
  };
  return [...backends, ...apps, ruleFailures];
}
