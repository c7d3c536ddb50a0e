import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SpecError, formatProblem } from '../../../generator/spec/diagnostics.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { REPO } from '../../support/helpers.ts';

const BAD = path.join(REPO, 'test/fixtures/bad');
const cases = (await readdir(BAD)).filter((f) => f.endsWith('.yaml')).sort();

describe('bad spec corpus', () => {
  it('has at least 25 cases, each with its expected messages', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    const expected = (await readdir(BAD)).filter((f) => f.endsWith('.expected'));
    expect(expected.sort()).toEqual(cases.map((c) => c.replace(/\.yaml$/, '.expected')));
  });

  it.each(cases)('%s is rejected with the expected located messages', async (name) => {
    const expected = (await readFile(path.join(BAD, name.replace(/\.yaml$/, '.expected')), 'utf8')).trimEnd();
    const error = await loadSpec(path.join(BAD, name), name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SpecError);
    const problems = (error as SpecError).problems;
    expect(problems.map(formatProblem).join('\n')).toBe(expected);
    for (const problem of problems) {
      // every message names where it is and ends with how to fix it
      expect(problem.line).toBeGreaterThan(0);
      expect(problem.col).toBeGreaterThan(0);
      expect(problem.message).toMatch(/; .+/);
    }
  });

  it('reports every problem of a file in one run', async () => {
    const error = (await loadSpec(path.join(BAD, 'many-problems.yaml')).catch(
      (e: unknown) => e,
    )) as SpecError;
    expect(error.problems.map((p) => p.path)).toEqual([
      'project',
      'services[0].colour',
      'services[0].slos[0].objective',
      'services[0].slos[1].threshold',
      'alerting.receivers',
    ]);
  });

  it('names the cross-field rule that found a problem', async () => {
    const error = (await loadSpec(path.join(BAD, 'unreachable-objective.yaml')).catch(
      (e: unknown) => e,
    )) as SpecError;
    expect(error.problems[0]?.rule).toBe('slo-alerts-can-fire');
  });
});
