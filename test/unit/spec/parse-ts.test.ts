import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SpecError, formatProblem } from '../../../generator/spec/diagnostics.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

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

  it.each([
    [
      'loops.config.ts',
      1,
      1,
      /did not finish within 2s; .*remove loops, timers, servers and process\.exit calls/,
    ],
    ['exits.config.ts', 1, 1, /exited with code 0 before exporting its spec; /],
    [
      'throws-late.config.ts',
      6,
      9,
      /the TypeScript spec failed: Error: the spec broke after it was exported; fix it there/,
    ],
    ['throws.config.ts', 2, 31, /the TypeScript spec failed: Error: PORT is not set; fix it there/],
    ['not-data.config.ts', 3, 1, /export is not plain data \(Do not know how to serialize a BigInt\); /],
  ])('%s is a located spec error, not a hang, an exit or a stack trace', async (name, line, col, message) => {
    const started = Date.now();
    const error = await loadSpec(path.join(FIXTURES, name), name, { tsTimeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(error).toBeInstanceOf(SpecError);
    const [problem, ...more] = (error as SpecError).problems;
    expect(more).toEqual([]);
    expect({ line: problem!.line, col: problem!.col }).toEqual({ line, col });
    expect(problem!.message).toMatch(message);
    expect(formatProblem(problem!)).not.toContain('\n');
  });

  it('a TypeScript spec that exits, through the CLI, exits 2 and writes nothing', async () => {
    const out = await tempDir('ts-exit');
    const result = await cli(['generate', path.join(FIXTURES, 'exits.config.ts'), '--out', out]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nothing was written');
    expect(await readdir(out)).toEqual([]);
  });
});
