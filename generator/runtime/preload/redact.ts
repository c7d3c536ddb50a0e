/**
 * Redaction at the source: values under blocked keys and substrings matching the spec's value
 * patterns are replaced before a span, log record or printed line leaves the process. The
 * Collector repeats this, so a gap here is not a leak there, and vice versa.
 */

export const REDACTED = '[REDACTED]';

export interface Redactor {
  isBlockedKey(key: string): boolean;
  text(value: string): string;
  value(key: string, value: unknown): unknown;
  /** A redacted deep copy of plain data; class instances other than Error and arrays are left alone. */
  data(value: unknown, depth?: number): unknown;
}

/** Translates the RE2 inline-flag prefix JavaScript lacks; other RE2 syntax the spec allows is shared. */
export function re2ToRegExp(regex: string): RegExp {
  const flagged = /^\(\?([a-z]+)\)/.exec(regex);
  const flags = new Set(['g']);
  let source = regex;
  if (flagged) {
    source = regex.slice(flagged[0].length);
    for (const flag of flagged[1]!) if (flag === 'i' || flag === 's' || flag === 'm') flags.add(flag);
  }
  return new RegExp(source, [...flags].join(''));
}

export function createRedactor(
  blockedKeys: readonly string[],
  valuePatterns: readonly { name: string; regex: string }[],
) {
  const blocked = new Set(blockedKeys.map((key) => key.toLowerCase()));
  const patterns = valuePatterns.flatMap(({ name, regex }) => {
    try {
      return [{ name, regex: re2ToRegExp(regex) }];
    } catch {
      process.emitWarning(`otelkit: redaction pattern ${name} is not a valid JavaScript regex; skipped`);
      return [];
    }
  });
  // `password=hunter2`, `"token": "abc"` and `?api_key=...` inside free text or URLs
  const keyNames = [...blocked].map((key) => key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const keyValue = keyNames
    ? new RegExp(`((?:${keyNames})["']?\\s*[=:]\\s*["']?)(?:bearer\\s+|basic\\s+)?[^\\s&"',;}]+`, 'gi')
    : undefined;

  const keyVerdicts = new Map<string, boolean>();
  const isBlockedKey = (key: string) => {
    const known = keyVerdicts.get(key);
    if (known !== undefined) return known;
    const lower = key.toLowerCase();
    // dotted or prefixed names such as http.request.header.authorization or db_password
    const last = lower.slice(lower.lastIndexOf('.') + 1);
    let verdict = blocked.has(lower) || blocked.has(last);
    if (!verdict) {
      for (const name of blocked) {
        const separator = last[last.length - name.length - 1];
        if (last.endsWith(name) && (separator === '_' || separator === '-')) verdict = true;
      }
    }
    if (keyVerdicts.size < 10_000) keyVerdicts.set(key, verdict);
    return verdict;
  };

  // span and log values repeat (user agents, paths, messages): a bounded memo of short strings
  const memo = new Map<string, string>();
  const text = (value: string) => {
    const known = memo.get(value);
    if (known !== undefined) return known;
    let out = value;
    if (keyValue) out = out.replace(keyValue, `$1${REDACTED}`);
    for (const { name, regex } of patterns) out = out.replace(regex, `[REDACTED:${name}]`);
    if (value.length <= 256) {
      if (memo.size >= 2000) memo.clear();
      memo.set(value, out);
    }
    return out;
  };

  const data = (value: unknown, depth = 0): unknown => {
    if (typeof value === 'string') return text(value);
    if (value === null || typeof value !== 'object' || depth > 8) return value;
    if (Array.isArray(value)) return value.map((item) => data(item, depth + 1));
    if (value instanceof Error) return value;
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      out[key] = isBlockedKey(key) ? REDACTED : data(item, depth + 1);
    return out;
  };

  const redactValue = (key: string, value: unknown) => (isBlockedKey(key) ? REDACTED : data(value));

  return { isBlockedKey, text, value: redactValue, data } satisfies Redactor;
}

/** Redacts an attribute bag in place; SDK objects hand out their live attribute maps. */
export function redactAttributes(
  redactor: Redactor,
  attributes: Record<string, unknown> | undefined,
  safeKeys?: ReadonlySet<string>,
) {
  if (!attributes) return;
  for (const key in attributes) {
    if (safeKeys?.has(key)) continue;
    const value = attributes[key];
    if (redactor.isBlockedKey(key)) attributes[key] = REDACTED;
    else if (typeof value === 'string') attributes[key] = redactor.text(value);
    else if (Array.isArray(value))
      attributes[key] = value.map((item: unknown) => (typeof item === 'string' ? redactor.text(item) : item));
  }
}
