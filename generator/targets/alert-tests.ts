import {
  buildCatalogue,
  seriesLabels,
  type AlertDefinition,
  type RecordingCase,
} from '../alerting/catalogue.ts';
import type { Model } from '../model/model.ts';
import type { Artifact, Target } from './artifact.ts';

/**
 * promtool unit tests for every alert, from the same catalogue as the rules: a case that fires
 * with the exact labels and annotations, one just under the threshold that stays silent, and one
 * that resolves. Long burn windows are tested at a 5m evaluation step to keep the run short.
 */

/** Renders the only template form the catalogue uses in annotations: `{{ $labels.name }}`. */
export function renderAnnotation(template: string, labels: Record<string, string>): string {
  return template.replace(
    /\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}/g,
    (_, label: string) => labels[label] ?? '',
  );
}

/** The alert promtool must see when the definition fires: its exact labels and rendered annotations. */
export function expectedAlerts(definition: AlertDefinition) {
  const { rule } = definition;
  const labels = { ...definition.exprLabels, ...rule.labels };
  return [
    {
      exp_labels: labels,
      exp_annotations: {
        summary: renderAnnotation(rule.annotations.summary, labels),
        description: renderAnnotation(rule.annotations.description, labels),
        runbook_url: rule.annotations.runbook_url,
      },
    },
  ];
}

function testGroup(definition: AlertDefinition) {
  const { rule } = definition;
  const expected = expectedAlerts(definition);
  return definition.cases.map((testCase) => ({
    name: `${rule.alert} ${testCase.name}`,
    interval: testCase.interval,
    input_series: testCase.input,
    alert_rule_test: testCase.checks.map((check) => ({
      eval_time: check.at,
      alertname: rule.alert,
      exp_alerts: check.firing ? expected : [],
    })),
  }));
}

export function alertTestFiles(model: Model): { path: string; content: unknown }[] {
  const catalogue = buildCatalogue(model);
  const byFile = new Map<string, AlertDefinition[]>();
  for (const alert of catalogue.alerts) {
    // "." cannot occur in a service name, so no service's own file can be named like this one.
    const stem = alert.testEvaluation === '5m' ? `${alert.file}.slow-burn` : alert.file;
    byFile.set(stem, [...(byFile.get(stem) ?? []), alert]);
  }
  const recordingCases = new Map(catalogue.files.map((file) => [file.file, file.recordingCases ?? []]));
  return [...byFile.entries()].map(([stem, alerts]) => {
    const ruleFile = alerts[0]!.file;
    const recorded = alerts[0]!.testEvaluation === '1m' ? (recordingCases.get(ruleFile) ?? []) : [];
    return {
      path: `alerts/tests/${stem}.test.yml`,
      content: {
        rule_files: [...new Set(['../recording.rules.yml', `../${ruleFile}.rules.yml`])],
        evaluation_interval: alerts[0]!.testEvaluation,
        tests: [...alerts.flatMap(testGroup), ...recorded.map(recordingTest)],
      },
    };
  });
}

function recordingTest(testCase: RecordingCase) {
  return {
    name: testCase.name,
    interval: testCase.interval,
    input_series: testCase.input,
    promql_expr_test: testCase.checks.map((check) => ({
      expr: check.expr,
      eval_time: check.at,
      exp_samples: check.samples.map((sample) => ({
        labels: seriesLabels(sample.labels),
        value: sample.value,
      })),
    })),
  };
}

export const alertTestsTarget: Target = {
  name: 'alert-tests',
  description: 'promtool unit tests for every alert',
  generate: (model: Model): Artifact[] =>
    alertTestFiles(model).map(({ path, content }) => ({ path, format: 'yaml', content })),
};
