import type { Model, ServiceModel, Severity } from '../model/model.ts';

export type { Severity };

/** What every alert group module builds: rules, their promtool cases and runbook facts. */

export type AlertGroupName = 'slo' | 'golden-signals' | 'resilience' | 'pipeline' | 'targets' | 'watchdog';

/** Owner of the stack's own alerts (pipeline, backends, the watchdog). */
export const PLATFORM_TEAM = 'platform';

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface SeriesInput {
  series: string;
  values: string;
}

export interface AlertCase {
  name: string;
  interval: string;
  input: SeriesInput[];
  /** Evaluation times and whether the alert must be firing at each. */
  checks: { at: string; firing: boolean }[];
}

export interface RunbookStep {
  text: string;
  language?: 'promql' | 'logql' | 'traceql' | 'sh';
  code?: string;
}

export interface Runbook {
  meaning: string;
  causes: string[];
  steps: RunbookStep[];
  resolution: string[];
  service: ServiceModel | undefined;
}

export interface AlertDefinition {
  rule: AlertRule;
  /** File stem under alerts/, e.g. `slo-checkout`. */
  file: string;
  /** Labels the expression itself yields; with the rule labels, what a firing alert carries. */
  exprLabels: Record<string, string>;
  /** Evaluation interval the test file needs (long windows are tested at a coarser step). */
  testEvaluation: '1m' | '5m';
  cases: AlertCase[];
  runbook: Runbook;
}

/** A promtool check of recorded values: the file's rules evaluated on `input`, `expr` read at each time. */
export interface RecordingCase {
  name: string;
  interval: string;
  input: SeriesInput[];
  checks: { at: string; expr: string; samples: { labels: Record<string, string>; value: number }[] }[];
}

export interface RuleFile {
  file: string;
  groupName: string;
  interval?: string;
  recording: RecordingRule[];
  /** Checked at a 1m evaluation step, with the file's page-tier alerts. */
  recordingCases?: RecordingCase[];
  alerts: AlertDefinition[];
}

export interface Catalogue {
  files: RuleFile[];
  alerts: AlertDefinition[];
}

export const pascal = (text: string) =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

/** Large per-step counts keep ratios exact enough that "just under" is 90 % of a threshold. */
export const REQUESTS_PER_STEP = 100_000;

export function runbookUrl(model: Model, alert: string): string {
  return model.runbookBaseUrl ? `${model.runbookBaseUrl}/${alert}.md` : `runbooks/${alert}.md`;
}

export function annotations(model: Model, alert: string, summary: string, description: string) {
  return { summary, description, runbook_url: runbookUrl(model, alert) };
}

// ---------------------------------------------------------------------------------------------
// Synthetic series helpers for promtool cases

/** A counter rising by `perStep` for `steps` steps, then by `after` for `afterSteps` steps. */
export function counter(perStep: number, steps: number, after?: { perStep: number; steps: number }): string {
  const first = `0+${perStep}x${steps}`;
  if (!after) return first;
  const reached = perStep * steps;
  return `${first} ${reached}+${after.perStep}x${after.steps}`;
}

export function gauge(value: number, steps: number, after?: { value: number; steps: number }): string {
  const first = `${value}x${steps}`;
  return after ? `${first} ${after.value}x${after.steps}` : first;
}

export const stepsFor = (durationMs: number, intervalMs: number) => Math.ceil(durationMs / intervalMs);

export function seriesLabels(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;
}
