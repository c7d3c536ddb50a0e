import { HOUR_MS, DAY_MS, formatDuration } from './spec/duration.ts';

/**
 * Multi-window, multi-burn-rate alerting from the SRE workbook (chapter 5, table 5-8). The budget
 * fractions are the workbook's for a 30-day period; the burn-rate factor is scaled to the SLO's
 * own period so that each alert still means "this much of the budget is gone in this window".
 */
export interface BurnWindow {
  tier: 'page' | 'ticket';
  /** Identifies the window pair in alert names and labels, e.g. `1h`. */
  name: string;
  longMs: number;
  shortMs: number;
  /** Share of the whole budget consumed when the alert fires. */
  budgetFraction: number;
  severity: 'critical' | 'warning';
  forMs: number;
}

export const BURN_WINDOWS: readonly BurnWindow[] = [
  {
    tier: 'page',
    name: '1h',
    longMs: HOUR_MS,
    shortMs: 5 * 60_000,
    budgetFraction: 0.02,
    severity: 'critical',
    forMs: 2 * 60_000,
  },
  {
    tier: 'page',
    name: '6h',
    longMs: 6 * HOUR_MS,
    shortMs: 30 * 60_000,
    budgetFraction: 0.05,
    severity: 'critical',
    forMs: 15 * 60_000,
  },
  {
    tier: 'ticket',
    name: '1d',
    longMs: DAY_MS,
    shortMs: 2 * HOUR_MS,
    budgetFraction: 0.1,
    severity: 'warning',
    forMs: HOUR_MS,
  },
  {
    tier: 'ticket',
    name: '3d',
    longMs: 3 * DAY_MS,
    shortMs: 6 * HOUR_MS,
    budgetFraction: 0.1,
    severity: 'warning',
    forMs: 3 * HOUR_MS,
  },
];

export const LONGEST_BURN_WINDOW_MS = Math.max(...BURN_WINDOWS.map((w) => w.longMs));

export function burnRateFactor(window: BurnWindow, periodMs: number): number {
  return (window.budgetFraction * periodMs) / window.longMs;
}

/** The error ratio at which the window's alert fires: factor × (1 − objective). */
export function errorRatioThreshold(window: BurnWindow, periodMs: number, objective: number): number {
  return burnRateFactor(window, periodMs) * (1 - objective);
}

/** Lowest objective (fraction) at which every window's threshold stays ≤ 100%, i.e. can still fire. */
export function minimumObjective(periodMs: number): number {
  const largestFactor = Math.max(...BURN_WINDOWS.map((w) => burnRateFactor(w, periodMs)));
  return 1 - 1 / largestFactor;
}

export function describeWindow(window: BurnWindow): string {
  return `${formatDuration(window.longMs)}/${formatDuration(window.shortMs)}`;
}
