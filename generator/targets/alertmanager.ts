import { WATCHDOG_ALERT, WATCHDOG_RECEIVER } from '../alerting/watchdog.ts';
import type { Model } from '../model/model.ts';
import { formatDuration, parseDuration } from '../model/duration.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * Alertmanager routing: the Watchdog to its own receiver, the rest by team and severity from the
 * spec. Inhibition hides only a lesser alert about the same thing: an SLO's tickets while that
 * SLO pages, a dependency's warnings while its critical alert fires, an exporter's early warning
 * once it loses data. Secrets come only from files (the schema rejects inline secrets), mounted
 * next to the config.
 */

/**
 * Labels that name "the same thing" per alert group. A label absent on both sides counts as
 * equal in Alertmanager, so each rule is confined to its group by its matchers.
 */
export const INHIBITIONS = [
  { source: ['tier="page"'], target: ['tier="ticket"'], equal: ['service_name', 'slo'] },
  {
    source: ['alertgroup="resilience"', 'severity="critical"'],
    target: ['alertgroup="resilience"', 'severity="warning"'],
    equal: ['service_name', 'dependency'],
  },
  {
    source: ['alertgroup="pipeline"', 'severity="critical"'],
    target: ['alertgroup="pipeline"', 'severity="warning"'],
    equal: ['job', 'instance', 'exporter'],
  },
] as const;

type Receiver = Model['alerting']['receivers'][number];

function receiverConfig(receiver: Receiver) {
  switch (receiver.type) {
    case 'webhook':
      return {
        name: receiver.name,
        webhook_configs: [
          {
            ...(receiver.url ? { url: receiver.url } : { url_file: receiver.url_file }),
            send_resolved: true,
          },
        ],
      };
    case 'slack':
      return {
        name: receiver.name,
        slack_configs: [
          {
            api_url_file: receiver.api_url_file,
            channel: receiver.channel,
            send_resolved: true,
            title: '{{ .CommonLabels.alertname }} ({{ .Status }})',
            text: '{{ range .Alerts }}{{ .Annotations.summary }} {{ .Annotations.runbook_url }}\n{{ end }}',
          },
        ],
      };
    case 'email':
      return {
        name: receiver.name,
        email_configs: [
          {
            to: receiver.to,
            from: receiver.from,
            smarthost: receiver.smarthost,
            ...(receiver.auth_username ? { auth_username: receiver.auth_username } : {}),
            ...(receiver.auth_password_file ? { auth_password_file: receiver.auth_password_file } : {}),
            send_resolved: true,
          },
        ],
      };
    case 'pagerduty':
      return {
        name: receiver.name,
        pagerduty_configs: [{ routing_key_file: receiver.routing_key_file, send_resolved: true }],
      };
  }
}

export function alertmanagerConfig(model: Model) {
  const { alerting } = model;
  return {
    global: { resolve_timeout: '5m' },
    route: {
      receiver: alerting.default_receiver,
      group_by: ['alertname', 'service_name', 'slo'],
      group_wait: formatDuration(parseDuration(alerting.group_wait)!),
      group_interval: formatDuration(parseDuration(alerting.group_interval)!),
      repeat_interval: formatDuration(parseDuration(alerting.repeat_interval)!),
      routes: [
        {
          receiver: WATCHDOG_RECEIVER,
          matchers: [`alertname="${WATCHDOG_ALERT}"`],
          group_wait: '0s',
          group_interval: '1m',
          repeat_interval: '5m',
        },
        ...alerting.routes.map((route) => ({
          receiver: route.receiver,
          matchers: [
            ...(route.team ? [`team="${route.team}"`] : []),
            ...(route.severity ? [`severity=~"${route.severity.join('|')}"`] : []),
          ],
          ...(route.continue ? { continue: true } : {}),
        })),
      ],
    },
    inhibit_rules: INHIBITIONS.map((rule) => ({
      source_matchers: [...rule.source],
      target_matchers: [...rule.target],
      equal: [...rule.equal],
    })),
    receivers: [
      ...alerting.receivers.map(receiverConfig),
      // without a heartbeat receiver of that name, the Watchdog goes nowhere (visible in Alertmanager only)
      ...(alerting.receivers.some((r) => r.name === WATCHDOG_RECEIVER) ? [] : [{ name: WATCHDOG_RECEIVER }]),
    ],
  };
}

export const alertmanagerTarget: Target = {
  name: 'alertmanager',
  description: 'Alertmanager routing, inhibition and receivers',
  generate: (model: Model): Artifact[] => [
    { path: 'stacks/alertmanager/alertmanager.yml', format: 'yaml', content: alertmanagerConfig(model) },
  ],
};
