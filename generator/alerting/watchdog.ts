import type { Model } from '../model/model.ts';
import { PLATFORM_TEAM, annotations, type AlertDefinition } from './definitions.ts';
import { httpUrl } from '../model/topology.ts';

/**
 * An alert that always fires, so the path Prometheus → Alertmanager → receiver can be watched
 * from outside: when its notifications stop, alerting itself is broken (the usual dead man's
 * switch). Alertmanager routes it to its own receiver, never to people.
 */
export const WATCHDOG_ALERT = 'Watchdog';
/** The receiver the Watchdog route uses; a spec receiver of this name (a heartbeat webhook) replaces the silent one. */
export const WATCHDOG_RECEIVER = 'watchdog';

export function watchdogAlerts(model: Model): AlertDefinition[] {
  const heartbeat = model.alerting.receivers.some((r) => r.name === WATCHDOG_RECEIVER);
  return [
    {
      file: 'watchdog',
      exprLabels: {},
      testEvaluation: '1m',
      rule: {
        alert: WATCHDOG_ALERT,
        expr: 'vector(1)',
        for: '0s',
        labels: { severity: 'info', team: PLATFORM_TEAM, alertgroup: 'watchdog' },
        annotations: annotations(
          model,
          WATCHDOG_ALERT,
          'The alerting pipeline works: this alert always fires.',
          '{{ $labels.alertname }} fires at all times by design; when a heartbeat receiver stops getting it, Prometheus, its rules or Alertmanager are down.',
        ),
      },
      cases: [
        {
          name: 'fires with no input at all',
          interval: '1m',
          input: [],
          checks: [{ at: '1m', firing: true }],
        },
        {
          name: 'keeps firing',
          interval: '1m',
          input: [],
          checks: [
            { at: '0m', firing: true },
            { at: '1h', firing: true },
          ],
        },
      ],
      runbook: {
        service: undefined,
        meaning: `This alert always fires. It proves that Prometheus evaluates rules and that Alertmanager receives and routes alerts. It is routed to the \`${WATCHDOG_RECEIVER}\` receiver only, never to people${heartbeat ? ', which this spec defines: point it at a dead man’s switch (a heartbeat service that alerts when notifications stop)' : '; that receiver is silent, so define a receiver named `watchdog` in `alerting.receivers` (for example a webhook to a heartbeat service that alerts when notifications stop) to make it a dead man’s switch'}. If it is missing from Alertmanager (Alerts page, or the query below returns nothing), no other alert can reach anyone either.`,
        causes: [
          'Prometheus is down or not evaluating rules (see PrometheusRuleEvaluationFailures).',
          'Prometheus cannot reach Alertmanager (alerting.alertmanagers in prometheus.yml).',
          'Alertmanager is down (see AlertmanagerDown) or its receiver fails.',
        ],
        steps: [
          {
            text: 'Prometheus’s view (should always be 1):',
            language: 'promql',
            code: `ALERTS{alertname="${WATCHDOG_ALERT}"}`,
          },
          {
            text: 'Alertmanager’s view:',
            language: 'sh',
            code: `amtool alert query alertname=${WATCHDOG_ALERT} --alertmanager.url=${httpUrl('alertmanager', { host: 'localhost' })}`,
          },
          {
            text: 'Notifications Prometheus failed to send:',
            language: 'promql',
            code: 'rate(prometheus_notifications_errors_total[5m])',
          },
        ],
        resolution: [
          'Restore Prometheus or Alertmanager; the watchdog resumes by itself.',
          'Never silence this alert: a silenced watchdog hides a broken pipeline.',
        ],
      },
    },
  ];
}
