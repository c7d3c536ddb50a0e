import type { Model } from '../model.ts';
import { formatDuration, parseDuration } from '../spec/duration.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * Alertmanager routing: by team and severity from the spec, SLO page alerts inhibiting the ticket
 * alerts of the same SLO, critical inhibiting warning within an alert group. Secrets come only
 * from files (the schema rejects inline secrets), mounted next to the config.
 */

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
      routes: alerting.routes.map((route) => ({
        receiver: route.receiver,
        matchers: [
          ...(route.team ? [`team="${route.team}"`] : []),
          ...(route.severity ? [`severity=~"${route.severity.join('|')}"`] : []),
        ],
        ...(route.continue ? { continue: true } : {}),
      })),
    },
    inhibit_rules: [
      {
        source_matchers: ['tier="page"'],
        target_matchers: ['tier="ticket"'],
        equal: ['service_name', 'slo'],
      },
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ['alertgroup', 'service_name'],
      },
    ],
    receivers: alerting.receivers.map(receiverConfig),
  };
}

export const alertmanagerTarget: Target = {
  name: 'alertmanager',
  description: 'Alertmanager routing, inhibition and receivers',
  generate: (model: Model): Artifact[] => [
    { path: 'stacks/alertmanager/alertmanager.yml', format: 'yaml', content: alertmanagerConfig(model) },
  ],
};
