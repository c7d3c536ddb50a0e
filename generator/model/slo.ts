import { HOUR_MS, DAY_MS, formatDuration } from './duration.ts';

/**
 * Multi-window, multi-burn-rate alerting from the SRE workbook (chapter 5, table 5-8). The
 * workbook's windows and factors are for a 30-day period. For another period the factors stay
 * (a page still means "burning 14.4 times faster than sustainable", never a factor below 1) and
 * the windows scale with the period, as Pyrra does: each alert still fires when the same share of
 * the budget (2 %, 5 %, 10 %, 10 %) is gone within its long window.
 */
export interface BurnWindow {
  tier: 'page' | 'ticket';
  /** Identifies the window pair in alert names, e.g. `1h`: its long window at 30 days. */
  name: string;
  /** How many times faster than sustainable the budget burns when the alert fires. */
  factor: number;
  longMs: number;
  shortMs: number;
  severity: 'critical' | 'warning';
  forMs: number;
}

/** The period the workbook's windows are written for. */
export const REFERENCE_PERIOD_MS = 30 * DAY_MS;

const WORKBOOK_WINDOWS: readonly BurnWindow[] = [
  {
    tier: 'page',
    name: '1h',
    factor: 14.4,
    longMs: HOUR_MS,
    shortMs: 5 * 60_000,
    severity: 'critical',
    forMs: 2 * 60_000,
  },
  {
    tier: 'page',
    name: '6h',
    factor: 6,
    longMs: 6 * HOUR_MS,
    shortMs: 30 * 60_000,
    severity: 'critical',
    forMs: 15 * 60_000,
  },
  {
    tier: 'ticket',
    name: '1d',
    factor: 3,
    longMs: DAY_MS,
    shortMs: 2 * HOUR_MS,
    severity: 'warning',
    forMs: HOUR_MS,
  },
  {
    tier: 'ticket',
    name: '3d',
    factor: 1,
    longMs: 3 * DAY_MS,
    shortMs: 6 * HOUR_MS,
    severity: 'warning',
    forMs: 3 * HOUR_MS,
  },
];

const MINUTE_MS = 60_000;

/** Rounded to the minute, never below one: Prometheus ranges and `for` stay readable. */
const scale = (ms: number, periodMs: number) =>
  Math.max(MINUTE_MS, Math.round((ms * periodMs) / REFERENCE_PERIOD_MS / MINUTE_MS) * MINUTE_MS);

/** The four window pairs of an SLO with this period, windows and `for` scaled to it. */
export function burnWindows(periodMs: number): BurnWindow[] {
  return WORKBOOK_WINDOWS.map((w) => ({
    ...w,
    longMs: scale(w.longMs, periodMs),
    shortMs: scale(w.shortMs, periodMs),
    forMs: scale(w.forMs, periodMs),
  }));
}

/** Every window an SLO's alerts read (long and short), shortest first. */
export function sloWindowsMs(periodMs: number): number[] {
  return [...new Set(burnWindows(periodMs).flatMap((w) => [w.shortMs, w.longMs]))].sort((a, b) => a - b);
}

/**
 * Long windows from pre-aggregated rates. Reading a 30-day window from the raw span-metric series
 * costs every sample of every route and status series of the SLI, at every evaluation. Instead each
 * SLO records two rates over a base window, bad events and all events, and a long window is the
 * ratio of their sums over it: sum_over_time(bad[30d]) / sum_over_time(all[30d]). That is
 * traffic-weighted (a busy 5 minutes counts for more than a quiet one), unlike Sloth's period rule,
 * which averages 5-minute error ratios (sum_over_time(ratio) / count_over_time(ratio)): under uneven
 * traffic a mean of ratios is not the ratio of sums, and one 5-minute ratio without traffic (0/0,
 * NaN) turns its whole period into NaN. Both sums hold one sample per evaluation, so the evaluation
 * interval cancels out of the ratio. The request count the burn alerts discount one failure
 * against does need it: it is the base window over the base rate's sample count in it.
 * The base rates, and every rule reading them, sit in one rule group, in that order: Prometheus
 * evaluates a group's rules in order at one timestamp, so a long window always includes the base
 * sample of its own evaluation (across groups there is no order).
 * The cost: a long window only covers the base rates' history, so for its first stretch after the
 * rules are deployed it is the ratio since then (backfill with `promtool tsdb create-blocks-from
 * rules` to close that gap), and its edges are smoothed by one base window.
 */
export const BASE_WINDOW_MS = 5 * MINUTE_MS;

/**
 * A long window at least this many base windows long is summed from the base rates, so the base
 * window's smoothing at its edges is under a twelfth of it; shorter windows are read raw, as are the
 * short windows of the pairs, which must empty as soon as a burn stops (they are cheap: hours at most).
 */
export const SUMMED_WINDOW_MIN_BASES = 12;

/**
 * The base window at this scrape interval: 5m, or longer where four scrapes do not fit in 5m. Rules
 * are evaluated at the scrape interval, so every base window also holds at least one evaluation and
 * no bad event falls between two base samples.
 */
export function baseWindowMs(scrapeIntervalMs: number): number {
  return Math.max(BASE_WINDOW_MS, Math.ceil((SCRAPES_PER_WINDOW * scrapeIntervalMs) / MINUTE_MS) * MINUTE_MS);
}

/** The long windows of an SLO: each pair's long window and the period itself. */
export function longWindowsMs(periodMs: number): number[] {
  return [...new Set([...burnWindows(periodMs).map((w) => w.longMs), periodMs])].sort((a, b) => a - b);
}

/** Whether a window of this SLO is summed from the base rates (true) or read from the raw series. */
export function summedFromBase(windowMs: number, periodMs: number, baseMs: number): boolean {
  return windowMs >= SUMMED_WINDOW_MIN_BASES * baseMs && longWindowsMs(periodMs).includes(windowMs);
}

/** Share of the whole budget spent within the long window when the alert fires. */
export function budgetSpent(window: BurnWindow, periodMs: number): number {
  return (window.factor * window.longMs) / periodMs;
}

/** The error ratio at which the window's alert fires: factor × (1 − objective). */
export function errorRatioThreshold(window: BurnWindow, objective: number): number {
  return window.factor * (1 - objective);
}

/** Lowest objective (fraction) at which every window's threshold stays ≤ 100%, i.e. can still fire. */
export function minimumObjective(): number {
  return 1 - 1 / Math.max(...WORKBOOK_WINDOWS.map((w) => w.factor));
}

/** A window shorter than this many scrape intervals misses samples, so rate() over it is unreliable. */
export const SCRAPES_PER_WINDOW = 4;

/** The shortest window an SLO of this period reads. */
export function shortestBurnWindowMs(periodMs: number): number {
  return Math.min(...sloWindowsMs(periodMs));
}

/** Shortest period (whole days) whose windows all cover SCRAPES_PER_WINDOW scrapes. */
export function minimumPeriodMs(scrapeIntervalMs: number): number {
  let periodMs = DAY_MS;
  while (shortestBurnWindowMs(periodMs) < SCRAPES_PER_WINDOW * scrapeIntervalMs) periodMs += DAY_MS;
  return periodMs;
}

export function describeWindow(window: BurnWindow): string {
  return `${formatDuration(window.longMs)}/${formatDuration(window.shortMs)}`;
}
