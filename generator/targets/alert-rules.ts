import { buildCatalogue, type RuleFile } from '../alerting/catalogue.ts';
import type { Model } from '../model/model.ts';
import type { Artifact, Target } from './artifact.ts';

/** Prometheus rule files: recording rules first, then alerts, one group per file. */
export function ruleFileContent(file: RuleFile) {
  return {
    groups: [
      {
        name: file.groupName,
        ...(file.interval ? { interval: file.interval } : {}),
        rules: [
          ...file.recording.map((r) => ({
            record: r.record,
            expr: r.expr,
            ...(r.labels ? { labels: r.labels } : {}),
          })),
          ...file.alerts.map(({ rule }) => ({
            alert: rule.alert,
            expr: rule.expr,
            for: rule.for,
            labels: rule.labels,
            annotations: rule.annotations,
          })),
        ],
      },
    ],
  };
}

export const alertRulesTarget: Target = {
  name: 'alert-rules',
  description: 'Prometheus recording and alerting rules (RED, SLO burn rates, resilience, pipeline, targets)',
  generate: (model: Model): Artifact[] =>
    buildCatalogue(model).files.map((file) => ({
      path: `alerts/${file.file}.rules.yml`,
      format: 'yaml',
      content: ruleFileContent(file),
    })),
};
