import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { Tree } from '@lezer/common';
import {
  COLLECTOR_METRICS,
  PROMETHEUS_METRICS,
  RESILIENCE_METRICS,
  SPAN_METRICS,
} from '../model/conventions.ts';

/**
 * Static checks of every query in the generated dashboards and rules, with the official Lezer
 * grammars of PromQL, LogQL and TraceQL (the ones Grafana's editors use), the provisioned
 * datasource uids, and the set of metrics the stack really produces.
 */

export type QueryLanguage = 'promql' | 'logql' | 'traceql';

export interface FoundQuery {
  where: string;
  language: QueryLanguage;
  query: string;
  datasourceUid: string | undefined;
}

const PARSERS = { promql: promqlParser, logql: logqlParser, traceql: traceqlParser } as const;

/**
 * Grafana's variables replaced as Grafana would before sending: interval variables by `range`,
 * dashboard variables by `values` (a representative `x` when not given).
 */
export function interpolate(
  query: string,
  values: Readonly<Record<string, string>> = {},
  range = '5m',
): string {
  return query
    .replace(/\$__rate_interval|\$__interval|\$__auto|\$__range/g, range)
    .replace(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}?/g, (_, name: string) => values[name] ?? 'x');
}

export function syntaxErrors(language: QueryLanguage, query: string): string[] {
  const text = interpolate(query);
  const tree: Tree = PARSERS[language].parse(text);
  const errors: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`syntax error at ${node.from}: ${JSON.stringify(text.slice(node.from, node.from + 20))}`);
    },
  });
  return [...new Set(errors)];
}

/** Metric names a PromQL expression reads: selector identifiers and `__name__` matchers. */
export function promqlMetrics(query: string): { names: string[]; nameRegexes: string[] } {
  const text = interpolate(query);
  const tree = promqlParser.parse(text);
  const names: string[] = [];
  const nameRegexes: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) names.push(text.slice(identifier.from, identifier.to));
      }
      if (node.name === 'UnquotedLabelMatcher') {
        const label = node.node.getChild('LabelName');
        const value = node.node.getChild('StringLiteral');
        if (label && value && text.slice(label.from, label.to) === '__name__') {
          const literal = JSON.parse(text.slice(value.from, value.to)) as string;
          if (node.node.getChild('MatchOp')?.getChild('EqlRegex')) nameRegexes.push(literal);
          else names.push(literal);
        }
      }
    },
  });
  return { names, nameRegexes };
}

/** Every metric the generated stack produces or records; recording rules are added by the caller. */
export const PRODUCED_METRICS: readonly string[] = [
  SPAN_METRICS.calls,
  SPAN_METRICS.durationBucket,
  SPAN_METRICS.durationCount,
  SPAN_METRICS.durationSum,
  ...RESILIENCE_METRICS,
  ...COLLECTOR_METRICS,
  ...PROMETHEUS_METRICS,
];

export interface QueryProblem {
  where: string;
  message: string;
}

export function checkQueries(
  queries: readonly FoundQuery[],
  options: { datasourceUids: readonly string[]; recordedMetrics: readonly string[] },
): QueryProblem[] {
  const known = new Set([...PRODUCED_METRICS, ...options.recordedMetrics]);
  const problems: QueryProblem[] = [];
  for (const q of queries) {
    for (const error of syntaxErrors(q.language, q.query)) {
      problems.push({ where: q.where, message: `${q.language} ${error} in ${q.query}` });
    }
    if (q.datasourceUid !== undefined && !options.datasourceUids.includes(q.datasourceUid)) {
      problems.push({ where: q.where, message: `datasource uid "${q.datasourceUid}" is not provisioned` });
    }
    if (q.language !== 'promql') continue;
    const { names, nameRegexes } = promqlMetrics(q.query);
    for (const name of names) {
      if (!known.has(name))
        problems.push({ where: q.where, message: `metric ${name} is produced by nothing in the stack` });
    }
    for (const pattern of nameRegexes) {
      const regex = new RegExp(`^(?:${pattern})$`);
      if (![...known].some((m) => regex.test(m))) {
        problems.push({ where: q.where, message: `no produced metric matches __name__=~"${pattern}"` });
      }
    }
  }
  return problems;
}

type Json = Record<string, unknown>;

const LANGUAGE_OF: Record<string, QueryLanguage> = { prometheus: 'promql', loki: 'logql', tempo: 'traceql' };

/** Walks a dashboard JSON for panel targets and template-variable queries. */
export function dashboardQueries(file: string, dashboardJson: Json): FoundQuery[] {
  const found: FoundQuery[] = [];
  const panels = (dashboardJson.panels as Json[] | undefined) ?? [];
  for (const panel of panels.flatMap((p) => [p, ...((p.panels as Json[] | undefined) ?? [])])) {
    for (const target of (panel.targets as Json[] | undefined) ?? []) {
      const datasource = (target.datasource ?? panel.datasource) as
        { type?: string; uid?: string } | undefined;
      const language = LANGUAGE_OF[datasource?.type ?? ''];
      const query = (target.expr ?? target.query) as string | undefined;
      if (!language || query === undefined || query === '') continue;
      found.push({
        where: `${file}: panel "${String(panel.title)}" ${String(target.refId)}`,
        language,
        query,
        datasourceUid: datasource?.uid,
      });
    }
  }
  const variables = ((dashboardJson.templating as Json | undefined)?.list as Json[] | undefined) ?? [];
  for (const variable of variables) {
    if (variable.type !== 'query') continue;
    const query = (variable.query as Json).query as string;
    const inner = /^label_values\((.+),\s*[a-zA-Z_]+\)$/.exec(query)?.[1];
    const datasource = variable.datasource as { uid?: string } | undefined;
    found.push({
      where: `${file}: variable ${String(variable.name)}`,
      language: 'promql',
      query: inner ?? query,
      datasourceUid: datasource?.uid,
    });
  }
  return found;
}

/** Queries of Tempo's provisioned traces-to-metrics links. */
export function datasourceQueries(file: string, provisioning: Json): FoundQuery[] {
  const found: FoundQuery[] = [];
  for (const ds of (provisioning.datasources as Json[] | undefined) ?? []) {
    const queries = ((ds.jsonData as Json | undefined)?.tracesToMetrics as Json | undefined)?.queries as
      Json[] | undefined;
    for (const q of queries ?? []) {
      const query = String(q.query).replaceAll('$$__tags', 'service_name="x"');
      found.push({
        where: `${file}: ${String(ds.name)} ${String(q.name)}`,
        language: 'promql',
        query,
        datasourceUid: undefined,
      });
    }
  }
  return found;
}
