import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { render } from '../../../generator/emit/emit.ts';
import { SpecError, formatProblem } from '../../../generator/spec/diagnostics.ts';
import { validateLoaded } from '../../../generator/spec/load.ts';
import { parseYamlSpec } from '../../../generator/spec/parse-yaml.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import type { Artifact } from '../../../generator/targets/artifact.ts';
import { specArbitrary } from '../../support/arbitraries.ts';

/**
 * The generator's contract without the real tools, over many more specs than the real-tool run
 * (fast, and fast-check shrinks a failure to a small spec): a spec is either rejected with located
 * one-line problems or rendered with no name clash and durations each target can parse.
 */

const RUNS = Number(process.env.OTELKIT_PROPERTY_RUNS ?? 300);

type Outcome = { rejected: string[] } | { artifacts: Artifact[] };

function generate(spec: unknown): Outcome {
  const text = dump(spec, { noRefs: true, lineWidth: -1 });
  const parsed = parseYamlSpec(text, 'spec.yaml');
  if (!parsed.loaded) return { rejected: parsed.problems.map(formatProblem) };
  try {
    const { model } = validateLoaded(parsed.loaded, 'spec.yaml');
    return { artifacts: generateArtifacts(model) };
  } catch (error) {
    if (error instanceof SpecError) return { rejected: error.problems.map(formatProblem) };
    throw error;
  }
}

function strings(value: unknown, found: string[] = []): string[] {
  if (typeof value === 'string') found.push(value);
  else if (Array.isArray(value)) for (const item of value) strings(item, found);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) strings(item, found);
  return found;
}

const content = (artifacts: Artifact[], file: string) => artifacts.find((a) => a.path === file)?.content;

describe('generated specs (no tools)', () => {
  it(`${RUNS} specs: rejected with located one-line problems, or rendered consistently`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(specArbitrary, (spec) => {
        const outcome = generate(spec);
        if ('rejected' in outcome) {
          expect(outcome.rejected.length).toBeGreaterThan(0);
          for (const line of outcome.rejected)
            expect(line).toMatch(/^spec\.yaml:[1-9]\d*:[1-9]\d*: [^\n]+; [^\n]+$/);
          return;
        }
        accepted += 1;
        const { artifacts } = outcome;
        // no two files share a path, not even on a case-insensitive disk
        const paths = artifacts.map((a) => a.path.toLowerCase());
        expect(new Set(paths).size).toBe(paths.length);
        render(artifacts, 'spec.yaml');
        // Go's time.ParseDuration has no d, w or y: none reaches the Collector or Tempo
        for (const file of [
          'stacks/collector/config.yaml',
          'stacks/collector/gateway.yaml',
          'stacks/tempo/tempo.yaml',
        ]) {
          for (const text of strings(content(artifacts, file))) {
            expect({ file, text }).not.toEqual({ file, text: expect.stringMatching(/^\d+(d|w|y)$/) });
          }
        }
        // Grafana dashboard uids: at most 40 characters, one per dashboard
        const uids = artifacts
          .filter((a) => a.path.startsWith('grafana/dashboards/'))
          .map((a) => (a.content as { uid: string }).uid);
        for (const uid of uids) expect(uid.length).toBeLessThanOrEqual(40);
        expect(new Set(uids).size).toBe(uids.length);
        // Prometheus scrape job names are unique
        const prometheus = content(artifacts, 'stacks/prometheus/prometheus.yml') as {
          scrape_configs: { job_name: string }[];
        };
        const jobs = prometheus.scrape_configs.map((c) => c.job_name);
        expect(new Set(jobs).size).toBe(jobs.length);
        // alert names are unique across all rule files
        const alerts = artifacts
          .filter((a) => a.path.endsWith('.rules.yml'))
          .flatMap((a) =>
            (a.content as { groups: { rules: { alert?: string }[] }[] }).groups.flatMap((g) => g.rules),
          )
          .flatMap((r) => (r.alert ? [r.alert.toLowerCase()] : []));
        expect(new Set(alerts).size).toBe(alerts.length);
      }),
      { numRuns: RUNS, seed: Number(process.env.OTELKIT_PROPERTY_SEED ?? 20261201) },
    );
    // a generator that lost its way (nearly everything rejected) would make this test hollow
    expect(accepted).toBeGreaterThanOrEqual(RUNS / 2);
  });
});
