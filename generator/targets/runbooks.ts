import { buildCatalogue, type AlertDefinition } from '../alerting/catalogue.ts';
import { WATCHDOG_ALERT, WATCHDOG_RECEIVER } from '../alerting/watchdog.ts';
import type { Model } from '../model/model.ts';
import { renderTemplate } from '../templates.ts';
import type { Artifact, Target } from './artifact.ts';

/** Receivers an alert reaches, following the generated route tree (first match unless continue). */
export function receiversFor(model: Model, labels: Record<string, string>): string[] {
  if (labels.alertname === WATCHDOG_ALERT) return [WATCHDOG_RECEIVER];
  const reached: string[] = [];
  for (const route of model.alerting.routes) {
    const teamOk = route.team === undefined || route.team === labels.team;
    const severityOk = route.severity === undefined || route.severity.includes(labels.severity as never);
    if (teamOk && severityOk) {
      reached.push(route.receiver);
      if (!route.continue) return reached;
    }
  }
  return reached.length > 0 ? reached : [model.alerting.default_receiver];
}

function runbookContext(model: Model, definition: AlertDefinition) {
  const { rule, runbook } = definition;
  const labels = { alertname: rule.alert, ...definition.exprLabels, ...rule.labels };
  return {
    alert: rule.alert,
    severity: rule.labels.severity,
    alertgroup: rule.labels.alertgroup,
    team: rule.labels.team,
    service: runbook.service?.name,
    expr: rule.expr.replace(/\|/g, '\\|'),
    for: rule.for,
    summary: rule.annotations.summary,
    meaning: runbook.meaning,
    causes: runbook.causes,
    steps: runbook.steps.map((step, index) => ({
      number: index + 1,
      text: step.text,
      language: step.language ?? '',
      code: step.code ?? '',
    })),
    resolution: runbook.resolution,
    owners: (runbook.service?.owners ?? []).map((o) => ({
      name: o.name,
      email: o.email ?? '',
      slack: o.slack ?? '',
    })),
    receivers: receiversFor(model, labels),
  };
}

export const runbooksTarget: Target = {
  name: 'runbooks',
  description: 'One runbook per alert with ready-to-paste PromQL, LogQL, TraceQL and jq',
  generate: (model: Model): Artifact[] =>
    buildCatalogue(model).alerts.map((definition) => ({
      path: `runbooks/${definition.rule.alert}.md`,
      format: 'text',
      comment: 'html',
      content: renderTemplate('runbook.md.hbs', runbookContext(model, definition)),
    })),
};
