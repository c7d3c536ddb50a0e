import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildDashboards } from '../../../generator/dashboards/dashboards.ts';
import { BREAKER_STATE_VALUE } from '../../../runtime/node/instrument/resilience.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { REPO } from '../../support/helpers.ts';

/** The resilience dashboard shows breaker state in the standard's encoding, green/yellow/red. */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('resilience dashboard', () => {
  it('maps circuit_breaker_state 0/1/2 to closed green, half-open yellow, open red', async () => {
    const { model } = await loadSpec(path.join(REPO, 'examples', 'shop', 'otelkit.yaml'));
    const board = buildDashboards(model).find((d) => d.name === 'resilience')!.dashboard as Json;
    const panel = (board.panels as Json[]).find((p) =>
      (p.targets as Json[]).some((t) => String(t.expr).includes('circuit_breaker_state')),
    )!;
    const options = (panel.fieldConfig.defaults.mappings as Json[]).flatMap((m) =>
      m.type === 'value' ? Object.entries(m.options as Json) : [],
    );
    const shown = Object.fromEntries(options.map(([value, result]) => [value, [result.text, result.color]]));
    expect(shown).toEqual({
      [BREAKER_STATE_VALUE.closed]: ['closed', 'green'],
      [BREAKER_STATE_VALUE.half_open]: ['half-open', 'yellow'],
      [BREAKER_STATE_VALUE.open]: ['open', 'red'],
    });
    // the standard's values, not just the preload's
    expect(shown).toEqual({ 0: ['closed', 'green'], 1: ['half-open', 'yellow'], 2: ['open', 'red'] });
  });

  it("groups each concurrency metric by the standard's own label: executor_* by pool_type, semaphores by dependency", async () => {
    const { model } = await loadSpec(path.join(REPO, 'examples', 'shop', 'otelkit.yaml'));
    const board = buildDashboards(model).find((d) => d.name === 'resilience')!.dashboard as Json;
    const exprs = (board.panels as Json[]).flatMap((p) => (p.targets as Json[]).map((t) => String(t.expr)));
    const grouping = (metric: string) =>
      exprs.filter((e) => e.includes(metric)).map((e) => /by \(([^)]*)\) \(/.exec(e)![1]);
    for (const metric of ['executor_active_workers', 'executor_max_workers', 'executor_pending_tasks'])
      expect(grouping(metric)).toEqual(expect.arrayContaining(['service_name, pool_type']));
    expect(grouping('executor_')).not.toContainEqual(expect.stringContaining('dependency'));
    expect(grouping('semaphore_available')).toEqual(['service_name, dependency']);
  });
});
