import type { AlertCase, SeriesInput } from './definitions.ts';

/**
 * The three promtool cases every alert is tested with: it fires, it stays silent just short of
 * its condition, and it resolves once the condition ends. Each alert module says only what differs
 * (the series, when to look, what "just short" means there).
 */
export function alertCases(cases: {
  /** Evaluation time of the fires and stays-silent checks. */
  at: string;
  fires: SeriesInput[];
  silent: { name?: string; input: SeriesInput[] };
  resolves: {
    name?: string;
    input: SeriesInput[];
    /** When the resolving input is still firing (default `at`). */
    firingAt?: string;
    resolvedAt: string;
  };
  interval?: string;
}): AlertCase[] {
  const interval = cases.interval ?? '1m';
  return [
    { name: 'fires', interval, input: cases.fires, checks: [{ at: cases.at, firing: true }] },
    {
      name: cases.silent.name ?? 'stays silent just under the threshold',
      interval,
      input: cases.silent.input,
      checks: [{ at: cases.at, firing: false }],
    },
    {
      name: cases.resolves.name ?? 'resolves',
      interval,
      input: cases.resolves.input,
      checks: [
        { at: cases.resolves.firingAt ?? cases.at, firing: true },
        { at: cases.resolves.resolvedAt, firing: false },
      ],
    },
  ];
}
