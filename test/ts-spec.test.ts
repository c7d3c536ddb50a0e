import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SpecError, formatProblem } from '../generator/spec/diagnostics.ts';
import { loadSpec } from '../generator/spec/load.ts';
import { REPO } from './helpers.ts';

const FIXTURES = path.join(REPO, 'test/fixtures/ts');

describe('otelkit.config.ts specs', () => {
  it('loads a defineSpec() export into the same model as YAML', async () => {
    const loaded = await loadSpec(path.join(FIXTURES, 'good.config.ts'), 'good.config.ts');
    expect(loaded.model.services.map((s) => s.name)).toEqual(['api']);
    expect(loaded.model.services[0]?.slos[0]?.objective).toBe(0.999);
  });

  it('locates problems at their line and column in the TypeScript source', async () => {
    const error = await loadSpec(path.join(FIXTURES, 'bad.config.ts'), 'bad.config.ts').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).problems.map(formatProblem)).toEqual([
      'bad.config.ts:9:16: services[0].runtime: must be one of "node", "python", "go", "java", "rust", "dotnet", "other", got "deno"; use one of those',
      'bad.config.ts:11:7: services[0].slo: unknown key "slo"; did you mean "slos"? (allowed here: name, description, runtime, kind, module, team, owners, frontends, routes, dependencies, slos, metrics_endpoint, admin)',
    ]);
  });
});
