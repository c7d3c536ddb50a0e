import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import { render } from '../../../generator/emit/emit.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { REPO } from '../../support/helpers.ts';

/**
 * Recording-rule names have one home (generator/model/rule-names.ts): a name typed anywhere else
 * fails here, and so does any generated query of a recording rule the rule files do not define.
 */

const RULE_NAME = /\b(?:service|service_route|service_route_frontend|slo):[a-z_]+:[a-z0-9_]+\b/g;
const HOME = 'generator/model/rule-names.ts';

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(REPO, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(REPO, path.join(e.parentPath, e.name)));
}

const withoutComments = (text: string) =>
  text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\/\/.*$/, ''))
    .join('\n');

describe('recording-rule names', () => {
  it(`are typed only in ${HOME}`, async () => {
    const typedTwice: string[] = [];
    for (const file of await sources('generator')) {
      if (file === HOME) continue;
      const code = withoutComments(await readFile(path.join(REPO, file), 'utf8'));
      for (const name of code.match(RULE_NAME) ?? []) typedTwice.push(`${file}: ${name}`);
    }
    expect(typedTwice).toEqual([]);
  });

  it.each(['examples/shop/otelkit.yaml', 'examples/gateway/otelkit.yaml'])(
    'queried by dashboards, Grafana, runbooks and alerts of %s only where a rule file defines them',
    async (spec) => {
      const { model } = await loadSpec(path.join(REPO, spec));
      const files = render(generateArtifacts(model), spec);
      const defined = new Set<string>();
      for (const [file, content] of files) {
        if (!/^alerts\/.*\.rules\.yml$/.test(file)) continue;
        const rules = load(content) as { groups: { rules: { record?: string }[] }[] };
        for (const rule of rules.groups.flatMap((g) => g.rules)) if (rule.record) defined.add(rule.record);
      }
      expect(defined.size).toBeGreaterThan(10);
      const undefinedNames = new Set<string>();
      let queried = 0;
      for (const [file, content] of files) {
        if (!/^(grafana|runbooks|alerts)\//.test(file) || file.endsWith('.test.yml')) continue;
        for (const name of content.match(RULE_NAME) ?? []) {
          queried++;
          if (!defined.has(name)) undefinedNames.add(`${file}: ${name}`);
        }
      }
      expect(queried).toBeGreaterThan(defined.size);
      expect([...undefinedNames]).toEqual([]);
    },
  );
});
