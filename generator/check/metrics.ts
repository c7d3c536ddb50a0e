import type { SyntaxNode } from '@lezer/common';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { COLLECTOR_METRICS, PROMETHEUS_METRICS, SPAN_METRICS } from '../model/conventions.ts';
import type { Model } from '../model/model.ts';
import type { Artifact } from '../targets/artifact.ts';
import { dashboardQueries, interpolate, type FoundQuery } from '../validate/queries.ts';

/**
 * `otelkit check metrics`: which metrics and labels the generated alerts and dashboards read from a
 * service, and which of them a live /metrics (or a Prometheus holding the service's series) lacks.
 * Series the stack derives itself (span metrics, service graphs, recording rules, the Collector's and
 * Prometheus's own) are not asked of the service; labels Prometheus or the Collector add (job,
 * instance, service_name, promoted resource attributes) are not either.
 */

export interface Need {
  metric: string;
  labels: Set<string>;
  readBy: Set<string>;
  /**
   * Read by a query that names this service (its alerts); a metric only templated dashboards read,
   * for whichever service is picked, is not asked of every service.
   */
  named: boolean;
}

const STACK_METRICS = new Set<string>([
  ...Object.values(SPAN_METRICS),
  ...COLLECTOR_METRICS,
  ...PROMETHEUS_METRICS,
]);
const ADDED_LABELS = new Set(['__name__', 'job', 'instance', 'le', 'quantile', 'service_name']);

const fromService = (metric: string) =>
  !STACK_METRICS.has(metric) &&
  !metric.includes(':') &&
  !metric.startsWith('traces_') &&
  !metric.startsWith('otelcol_');

function stringLiteral(text: string): string {
  try {
    return JSON.parse(text) as string;
  } catch {
    return text.slice(1, -1);
  }
}

const ANY_VALUE = '__otelkit_any__';

/** Selectors of one PromQL expression: metric, matcher labels, the `by` labels around it, its service matcher. */
export function selectors(query: string) {
  // a dashboard variable in a matcher value (service_name=~"$service") selects any value
  const text = interpolate(
    query.replace(
      /(=~?|!=|!~)"([^"]*)"/g,
      (_, op: string, value: string) =>
        `${op}"${value.replace(/\$\{?[a-zA-Z][a-zA-Z0-9_]*(?::[a-z]+)?\}?/g, ANY_VALUE)}"`,
    ),
  );
  const found: { metric: string; labels: string[]; service: { op: string; value: string } | undefined }[] =
    [];
  const visit = (node: SyntaxNode, grouping: string[]) => {
    let labels = grouping;
    if (node.name === 'AggregateExpr') {
      const modifier = node.getChild('AggregateModifier');
      if (modifier?.getChild('By')) {
        const names = modifier.getChild('GroupingLabels')?.getChildren('LabelName') ?? [];
        labels = [...grouping, ...names.map((n) => text.slice(n.from, n.to))];
      }
    }
    if (node.name === 'VectorSelector') {
      const identifier = node.getChild('Identifier');
      const matchers = node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? [];
      let service: { op: string; value: string } | undefined;
      const matcherLabels: string[] = [];
      let metric = identifier ? text.slice(identifier.from, identifier.to) : '';
      for (const matcher of matchers) {
        const label = matcher.getChild('LabelName');
        const value = matcher.getChild('StringLiteral');
        const op = matcher.getChild('MatchOp');
        if (!label || !value || !op) continue;
        const name = text.slice(label.from, label.to);
        const literal = stringLiteral(text.slice(value.from, value.to));
        if (name === '__name__' && op.getChild('EqlSingle')) metric = literal;
        else if (name === 'service_name') service = { op: text.slice(op.from, op.to), value: literal };
        else matcherLabels.push(name);
      }
      if (metric) found.push({ metric, labels: [...labels, ...matcherLabels], service });
    }
    for (let child = node.firstChild; child; child = child.nextSibling) visit(child, labels);
  };
  visit(promqlParser.parse(text).topNode, []);
  return found;
}

/** Whether a selector's service_name matcher selects `service`: by name, or (templated) any. */
function selects(
  service: string,
  matcher: { op: string; value: string } | undefined,
): 'named' | 'any' | false {
  if (!matcher || matcher.value.includes(ANY_VALUE)) return 'any';
  const regex = new RegExp(`^(?:${matcher.value})$`);
  const hit =
    matcher.op === '=' ? matcher.value === service : matcher.op === '=~' ? regex.test(service) : false;
  return hit ? 'named' : false;
}

export function generatedQueries(artifacts: readonly Artifact[]): FoundQuery[] {
  const queries: FoundQuery[] = [];
  for (const artifact of artifacts) {
    if (
      artifact.format === 'yaml' &&
      artifact.path.startsWith('alerts/') &&
      !artifact.path.startsWith('alerts/tests/')
    ) {
      const groups = (
        artifact.content as { groups?: { rules?: { alert?: string; record?: string; expr?: string }[] }[] }
      ).groups;
      for (const group of groups ?? [])
        for (const rule of group.rules ?? [])
          if (rule.expr)
            queries.push({
              where: rule.alert ? `alert ${rule.alert}` : `rule ${rule.record}`,
              language: 'promql',
              query: String(rule.expr),
              datasourceUid: undefined,
            });
    }
    if (artifact.format === 'json' && artifact.path.startsWith('grafana/dashboards/'))
      queries.push(...dashboardQueries(artifact.path, artifact.content as Record<string, unknown>));
  }
  return queries.filter((q) => q.language === 'promql');
}

export function serviceNeeds(model: Model, artifacts: readonly Artifact[], service: string): Need[] {
  const added = new Set([
    ...ADDED_LABELS,
    ...model.signals.metrics.resourceAttributes.map((a) => a.replace(/[^a-zA-Z0-9_]/g, '_')),
  ]);
  const needs = new Map<string, Need>();
  for (const query of generatedQueries(artifacts)) {
    for (const selector of selectors(query.query)) {
      const selected = selects(service, selector.service);
      if (!fromService(selector.metric) || !selected) continue;
      const need: Need = needs.get(selector.metric) ?? {
        metric: selector.metric,
        labels: new Set(),
        readBy: new Set(),
        named: false,
      };
      if (selected === 'named') need.named = true;
      for (const label of selector.labels) if (!added.has(label)) need.labels.add(label);
      need.readBy.add(query.where.replace(/ [A-Z]$/, ''));
      needs.set(selector.metric, need);
    }
  }
  return [...needs.values()].sort((a, b) => a.metric.localeCompare(b.metric));
}

/** Label names seen per metric name in Prometheus text exposition (and OpenMetrics). */
export function parseExposition(text: string): Map<string, Set<string>> {
  const metrics = new Map<string, Set<string>>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+/.exec(line);
    if (!match) continue;
    const labels = metrics.get(match[1]!) ?? new Set<string>();
    if (match[2])
      for (const label of match[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?:[^"\\]|\\.)*"/g))
        labels.add(label[1]!);
    metrics.set(match[1]!, labels);
  }
  return metrics;
}

/** The same from a Prometheus server: the service's series of each needed metric. */
export async function prometheusSeries(
  base: string,
  service: string,
  needs: readonly Need[],
  timeoutMs: number,
) {
  const metrics = new Map<string, Set<string>>();
  if (needs.length === 0) return metrics;
  const url = new URL(`${base.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1/series`);
  const names = needs.map((n) => n.metric.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  // service_name from OTLP (promoted resource attribute), job from a scrape named after the service
  url.searchParams.append('match[]', `{__name__=~"${names}",service_name="${service}"}`);
  url.searchParams.append('match[]', `{__name__=~"${names}",job=~"(.+/)?${service}"}`);
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url.origin}${url.pathname} answered ${response.status}`);
  const body = (await response.json()) as { status: string; data: Record<string, string>[] };
  for (const series of body.data ?? []) {
    const labels = metrics.get(series.__name__!) ?? new Set<string>();
    for (const label of Object.keys(series)) labels.add(label);
    metrics.set(series.__name__!, labels);
  }
  return metrics;
}

export interface MetricsVerdict {
  missingMetrics: Need[];
  missingLabels: { need: Need; labels: string[] }[];
}

export function compare(needs: readonly Need[], present: Map<string, Set<string>>): MetricsVerdict {
  const verdict: MetricsVerdict = { missingMetrics: [], missingLabels: [] };
  for (const need of needs) {
    const labels = present.get(need.metric);
    if (!labels) verdict.missingMetrics.push(need);
    else {
      const absent = [...need.labels].filter((label) => !labels.has(label)).sort();
      if (absent.length) verdict.missingLabels.push({ need, labels: absent });
    }
  }
  return verdict;
}

/** A /metrics endpoint answers text; anything else is taken as a Prometheus server's base URL. */
export async function readMetrics(url: string, service: string, needs: readonly Need[], timeoutMs = 10_000) {
  const parsed = new URL(url);
  if (parsed.pathname === '/' || parsed.pathname === '' || /\/api\/v1\/?$/.test(parsed.pathname))
    return { source: 'prometheus', metrics: await prometheusSeries(url, service, needs, timeoutMs) } as const;
  const response = await fetch(parsed, {
    headers: { accept: 'text/plain;version=0.0.4, application/openmetrics-text;q=0.5' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw new Error(`${parsed.origin}${parsed.pathname} answered ${response.status}`);
  return { source: 'exposition', metrics: parseExposition(await response.text()) } as const;
}
