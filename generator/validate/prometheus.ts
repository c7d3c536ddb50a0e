import path from 'node:path';
import type { ToolCheck, ToolCheckResult } from './index.ts';
import { findTool, run } from './tools.ts';

const unavailable = (tool: string): ToolCheckResult => ({
  status: 'unavailable',
  summary: `no ${tool} found; run "npx otelkit tools install --only ${tool}" or set OTELKIT_${tool.toUpperCase()}`,
});

/** promtool check config (which also loads the rule files), check rules, and test rules. */
export const promtoolCheck: ToolCheck = {
  name: 'Prometheus config, rules and rule unit tests (promtool)',
  async run({ dir, files, env }): Promise<ToolCheckResult> {
    const promtool = await findTool('promtool', env);
    if (!promtool) return unavailable('promtool');
    const details: string[] = [];
    const config = 'stacks/prometheus/prometheus.yml';
    const rules = files.filter((f) => f.startsWith('alerts/') && f.endsWith('.rules.yml'));
    const tests = files.filter((f) => f.startsWith('alerts/tests/') && f.endsWith('.test.yml'));
    if (files.includes(config)) {
      const result = await run(promtool, ['check', 'config', config], dir);
      if (!result.ok) details.push(`${config}: ${result.output.split('\n').slice(-4).join(' ')}`);
    }
    if (rules.length > 0) {
      const result = await run(promtool, ['check', 'rules', ...rules], dir);
      if (!result.ok)
        details.push(
          `rules: ${result.output
            .split('\n')
            .filter((l) => /FAILED|error/i.test(l))
            .join(' ')}`,
        );
    }
    for (const test of tests) {
      const result = await run(
        promtool,
        ['test', 'rules', path.basename(test)],
        path.join(dir, path.dirname(test)),
      );
      if (!result.ok) details.push(`${test}: ${result.output.split('\n').slice(0, 12).join('\n      ')}`);
    }
    return details.length > 0
      ? { status: 'failed', summary: `promtool rejected ${details.length} item(s)`, details }
      : {
          status: 'passed',
          summary: `config, ${rules.length} rule files and ${tests.length} unit-test files pass promtool`,
        };
  },
};
