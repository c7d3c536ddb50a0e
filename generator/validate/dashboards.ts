import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load } from 'js-yaml';
import type { ToolCheck, ToolCheckResult } from './index.ts';
import { checkQueries, dashboardQueries, datasourceQueries, type FoundQuery } from './queries.ts';

type Json = Record<string, unknown>;

/** Every query in the rendered dashboards, datasources and rule files, as the checks see them. */
export async function collectQueries(dir: string, files: readonly string[]) {
  const queries: FoundQuery[] = [];
  const recorded: string[] = [];
  const datasourceUids: string[] = [];
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    if (file.startsWith('grafana/dashboards/') && file.endsWith('.json')) {
      queries.push(...dashboardQueries(file, JSON.parse(text) as Json));
    } else if (file.startsWith('grafana/provisioning/datasources/')) {
      const provisioning = load(text) as Json;
      for (const ds of (provisioning.datasources as Json[]) ?? []) datasourceUids.push(String(ds.uid));
      queries.push(...datasourceQueries(file, provisioning));
    } else if (file.startsWith('alerts/') && file.endsWith('.rules.yml')) {
      const rules = load(text) as {
        groups: { rules: { record?: string; alert?: string; expr: string }[] }[];
      };
      for (const rule of rules.groups.flatMap((g) => g.rules)) {
        if (rule.record) recorded.push(rule.record);
        queries.push({
          where: `${file}: ${rule.record ?? rule.alert}`,
          language: 'promql',
          query: rule.expr,
          datasourceUid: undefined,
        });
      }
    }
  }
  return { queries, recorded, datasourceUids };
}

export const dashboardQueryCheck: ToolCheck = {
  name: 'Dashboard and rule queries (PromQL, LogQL, TraceQL grammars; datasources; metric parity)',
  async run({ dir, files }): Promise<ToolCheckResult> {
    const { queries, recorded, datasourceUids } = await collectQueries(dir, files);
    const problems = checkQueries(queries, { datasourceUids, recordedMetrics: recorded });
    return problems.length > 0
      ? {
          status: 'failed',
          summary: `${problems.length} query problem(s)`,
          details: problems.map((p) => `${p.where}: ${p.message}`),
        }
      : {
          status: 'passed',
          summary: `${queries.length} queries parse, use provisioned datasources and produced metrics`,
        };
  },
};
