/** Durations as people write them in configs: `300ms`, `30s`, `5m`, `6h`, `30d`, `2w`, `1y`. */
const UNIT_MS = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
} as const;

type Unit = keyof typeof UNIT_MS;

const DURATION = /^(\d+)(ms|s|m|h|d|w|y)$/;

export const DURATION_HINT = 'write a whole number and one unit of ms, s, m, h, d, w, y, e.g. "30s", "14d"';

export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  return value * UNIT_MS[match[2] as Unit];
}

/**
 * Longest duration any target can hold: Go's time.Duration is int64 nanoseconds (about 292 years),
 * and the Collector, Prometheus, Alertmanager, Loki and Tempo all parse durations into one.
 */
export const MAX_DURATION_MS = Math.floor(Number(2n ** 63n - 1n) / 1_000_000) - 1;

/**
 * A duration as Prometheus, Alertmanager and Loki parse it (Prometheus' model.Duration, which
 * knows d, w and y): the largest unit that divides exactly, so `720h` prints as `30d` and output
 * stays short and stable.
 */
export function formatDuration(ms: number): string {
  const units: Unit[] = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];
  for (const unit of units) {
    if (ms % UNIT_MS[unit] === 0 && ms >= UNIT_MS[unit]) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

const GO_UNITS: Unit[] = ['h', 'm', 's', 'ms'];

/**
 * A duration as Go's time.ParseDuration reads it, for the Collector, Tempo and TraceQL: hours at
 * most (Go has no d, w or y).
 */
export function formatGoDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_DURATION_MS) {
    throw new Error(`internal: duration of ${ms}ms cannot be written for Go`);
  }
  if (ms === 0) return '0s';
  for (const unit of GO_UNITS) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

export const HOUR_MS = UNIT_MS.h;
export const DAY_MS = UNIT_MS.d;
