/**
 * Redaction at the source: values under blocked keys and substrings matching the spec's value
 * patterns are replaced before a span, log record or printed line leaves the process. The
 * Collector repeats this, so a gap here is not a leak there, and vice versa.
 *
 * Everything here runs on client-supplied text (paths, user agents) and on whatever the app logs,
 * so its cost is linear in the input: patterns run without the backtracking that made a leading
 * `[class]+` quadratic, and copies of logged objects visit each object once.
 */
import { types } from 'node:util';

export const REDACTED = '[REDACTED]';

export interface Redactor {
  isBlockedKey(key: string): boolean;
  text(value: string): string;
  value(key: string, value: unknown): unknown;
  /**
   * A redacted copy of plain data (objects, arrays, Maps and Sets); class instances other than
   * those, Errors and Proxies are left alone. Cycles stay cycles, so util.inspect prints them as
   * it would the original. With `print`, accessors stay accessors (inspect shows `[Getter]` and
   * never runs them, as for the original); without it they are read, and one that throws reads
   * as a placeholder, so serialising the copy cannot throw.
   */
  data(value: unknown, print?: boolean): unknown;
}

/** Objects one copy visits at most; past it the rest reads as a placeholder. */
export const MAX_COPIED_OBJECTS = 10_000;
const MAX_DEPTH = 8;
const TRUNCATED = '[Truncated]';
const CIRCULAR = '[Circular]';
/** util.inspect's default maxArrayLength is 100; console.dir may ask for more. */
const PRINTED_ITEMS = 1000;
const PROXY = '[Proxy]';

/** Translates the RE2 inline-flag prefix JavaScript lacks; other RE2 syntax the spec allows is shared. */
export function re2ToRegExp(regex: string): RegExp {
  const { source, flags } = splitFlags(regex);
  return new RegExp(source, flags);
}

function splitFlags(regex: string) {
  const flagged = /^\(\?([a-z]+)\)/.exec(regex);
  const flags = new Set(['g']);
  let source = regex;
  if (flagged) {
    source = regex.slice(flagged[0].length);
    for (const flag of flagged[1]!) if (flag === 'i' || flag === 's' || flag === 'm') flags.add(flag);
  }
  return { source, flags: [...flags].join('') };
}

/**
 * The single-character atom a pattern starts with when it is repeated without bound (`[a-z]+`,
 * `\w*`, `.{2,}`) and the pattern has no top-level alternative; undefined otherwise.
 */
export function leadingRepeatedAtom(source: string): string | undefined {
  let end: number;
  if (source.startsWith('[')) {
    end = 1;
    if (source[end] === '^') end++;
    if (source[end] === ']') return undefined;
    while (end < source.length && source[end] !== ']') end += source[end] === '\\' ? 2 : 1;
    if (end >= source.length) return undefined;
    end++;
  } else if (/^\\[dDwWsS]/.test(source)) end = 2;
  else if (source.startsWith('.')) end = 1;
  else return undefined;
  const quantifier = /^(?:[+*]|\{\d+,\})\??/.exec(source.slice(end));
  if (!quantifier) return undefined;
  // a top-level `|` would make the atom lead only the first alternative
  let depth = 0;
  let inClass = false;
  for (let at = 0; at < source.length; at++) {
    const char = source[at];
    if (char === '\\') at++;
    else if (inClass) inClass = char !== ']';
    else if (char === '[') inClass = true;
    else if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === '|' && depth === 0) return undefined;
  }
  return source.slice(0, end);
}

interface ValuePattern {
  /** The pattern as written, global. */
  global: RegExp;
  /**
   * For a pattern `C+R`: the same pattern, allowed to start only where the character before is
   * not a `C`. A match starting inside a run of `C`s implies one starting where the run starts
   * (prefix the rest of the run to the repetition), so, leftmost first, no match is lost; and each
   * run is scanned once instead of once per character: linear instead of quadratic.
   */
  guarded?: RegExp;
  /** The pattern anchored where it is tried (for the position right after a match). */
  sticky?: RegExp;
  replacement: string;
  /** Card numbers: digit runs that fail the Luhn check are ids, not cards. */
  luhn: boolean;
}

export function compilePattern(name: string, regex: string): ValuePattern {
  const { source, flags } = splitFlags(regex);
  const global = new RegExp(source, flags);
  const atom = leadingRepeatedAtom(source);
  return {
    global,
    guarded: atom ? new RegExp(`(?<!${atom})(?:${source})`, flags) : undefined,
    sticky: atom ? new RegExp(source, `${flags.replace('g', '')}y`) : undefined,
    replacement: `[REDACTED:${name}]`,
    luhn: name === 'card_number',
  };
}

export function luhnValid(text: string): boolean {
  let sum = 0;
  let digits = 0;
  for (let at = text.length - 1; at >= 0; at--) {
    const code = text.charCodeAt(at) - 48;
    if (code < 0 || code > 9) continue;
    let digit = code;
    if (digits % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    digits++;
  }
  return digits >= 12 && sum % 10 === 0;
}

/**
 * Where V8's regexp engine runs out of backtracking stack it throws RangeError ("Maximum call stack
 * size exceeded"; seen once on 5 MiB of one letter in a loaded CI run, never reproduced idle). A
 * console.log must never throw for it, so such a text is redacted in pieces cut at whitespace,
 * where the secrets the patterns find do not continue, and a piece that still fails is replaced whole.
 */
const RETRY_PIECE = 64 * 1024;

/** Replaces every match of `pattern` in `text`, leftmost first, in time linear in `text`. */
export function replacePattern(text: string, pattern: ValuePattern): string {
  try {
    return replaceAll(text, pattern);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    if (text.length <= RETRY_PIECE) return pattern.replacement;
    let out = '';
    for (let start = 0; start < text.length;) {
      let end = Math.min(text.length, start + RETRY_PIECE);
      if (end < text.length) {
        const space = text.slice(start, end).search(/\s\S*$/);
        if (space > 0) end = start + space + 1;
      }
      out += replacePattern(text.slice(start, end), pattern);
      start = end;
    }
    return out;
  }
}

function replaceAll(text: string, pattern: ValuePattern): string {
  const { global, guarded, sticky, replacement, luhn } = pattern;
  if (!guarded && !luhn) return text.replace(global, replacement);
  const search = guarded ?? global;
  let out = '';
  let kept = 0;
  let from = 0;
  while (from <= text.length) {
    let match: RegExpExecArray | null = null;
    // right after a match the guard would wrongly refuse a start inside the run it ended in
    if (sticky && from > 0 && from === kept) {
      sticky.lastIndex = from;
      match = sticky.exec(text);
    }
    if (!match) {
      search.lastIndex = from;
      match = search.exec(text);
    }
    if (!match) break;
    const end = match.index + match[0].length;
    if (!luhn || luhnValid(match[0])) {
      out += text.slice(kept, match.index) + replacement;
      kept = end;
    }
    from = match[0].length === 0 ? end + 1 : end;
  }
  return kept === 0 ? text : out + text.slice(kept);
}

/**
 * Key names as one spelling: camelCase, spaces, dots and dashes become underscores, so
 * `sessionId`, `SessionID`, `session-id` and `session id` are all `session_id`.
 */
export function keyWords(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[\s.-]+/g, '_')
    .toLowerCase();
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function createRedactor(
  blockedKeys: readonly string[],
  valuePatterns: readonly { name: string; regex: string }[],
) {
  const blocked = new Set(blockedKeys.map(keyWords));
  const patterns = valuePatterns.flatMap(({ name, regex }) => {
    try {
      return [compilePattern(name, regex)];
    } catch {
      process.emitWarning(`otelkit: redaction pattern ${name} is not a valid JavaScript regex; skipped`);
      return [];
    }
  });
  // `password=hunter2`, `"token": "abc"`, `sessionId: 'a b c'` and `?api_key=...` inside free
  // text or URLs; a quoted value is redacted up to its closing quote, spaces and all
  const keyNames = [...blocked]
    .map((key) => key.split('_').map(escapeRegex).join('[\\s_.-]?'))
    .sort((a, b) => b.length - a.length)
    .join('|');
  const keyValue = keyNames
    ? new RegExp(
        `((?:${keyNames})["']?\\s*[=:](?!>)\\s*)(?:"[^"]*"?|'[^']*'?|(?:bearer\\s+|basic\\s+)?[^\\s&"',;}]+)`,
        'gi',
      )
    : undefined;

  const keyVerdicts = new Map<string, boolean>();
  const isBlockedKey = (key: string) => {
    const known = keyVerdicts.get(key);
    if (known !== undefined) return known;
    const words = keyWords(key);
    // dotted or prefixed names such as http.request.header.authorization or db_password
    let verdict = blocked.has(words);
    if (!verdict) {
      for (const name of blocked) {
        if (words.endsWith(name) && words[words.length - name.length - 1] === '_') verdict = true;
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
    for (const pattern of patterns) out = replacePattern(out, pattern);
    if (value.length <= 256) {
      if (memo.size >= 2000) memo.clear();
      memo.set(value, out);
    }
    return out;
  };

  const data = (root: unknown, print = false): unknown => {
    if (typeof root === 'string') return text(root);
    if (root === null || typeof root !== 'object') return root;
    const copies = new Map<object, unknown>();
    // for JSON (not printing) a cycle must end: the objects on the way down from the root
    const path = new Set<object>();
    const copy = (value: unknown, depth: number): unknown => {
      if (typeof value === 'string') return text(value);
      if (typeof value === 'bigint' && !print) return value.toString();
      if (value === null || typeof value !== 'object') return value;
      if (!print && path.has(value)) return CIRCULAR;
      const known = copies.get(value);
      if (known !== undefined) return known;
      // a Proxy's traps may throw or lie; inspect prints its target without running them
      if (types.isProxy(value)) return print ? value : PROXY;
      if (value instanceof Error) return value;
      // inspect stops at its own depth; JSON would walk the original all the way down
      if (depth > MAX_DEPTH) return print ? value : TRUNCATED;
      if (copies.size >= MAX_COPIED_OBJECTS) return TRUNCATED;
      path.add(value);
      const out = copyObject(value, (item) => copy(item, depth + 1));
      path.delete(value);
      return out;
    };
    const copyObject = (value: object, child: (item: unknown) => unknown): unknown => {
      if (Array.isArray(value)) {
        // inspect prints the first 100 items and counts the rest by the length, which a holey
        // copy of the same length keeps, without copying a million items nobody prints
        const out: unknown[] = print && value.length > PRINTED_ITEMS ? new Array(value.length) : [];
        copies.set(value, out);
        const items = print ? Math.min(value.length, PRINTED_ITEMS) : value.length;
        for (let at = 0; at < items; at++) {
          // inspect prints the first 100 items of the copy; JSON would print every one
          if (!print && copies.size >= MAX_COPIED_OBJECTS) {
            out.push(TRUNCATED);
            break;
          }
          out[at] = child(value[at]);
        }
        return out;
      }
      if (value instanceof Map) {
        const out = new Map();
        copies.set(value, out);
        for (const [key, item] of value as Map<unknown, unknown>) {
          out.set(key, typeof key === 'string' && isBlockedKey(key) ? REDACTED : child(item));
        }
        return print ? out : Object.fromEntries(out);
      }
      if (value instanceof Set) {
        const out = new Set();
        copies.set(value, out);
        for (const item of value as Set<unknown>) out.add(child(item));
        return print ? out : [...out];
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return value;
      const out: Record<PropertyKey, unknown> = proto === null ? Object.create(null) : {};
      copies.set(value, out);
      for (const key of Reflect.ownKeys(value)) {
        const descriptor = Object.getOwnPropertyDescriptor(value, key);
        if (!descriptor?.enumerable) continue;
        const hidden = typeof key === 'string' && isBlockedKey(key);
        if (!('value' in descriptor)) {
          if (hidden) out[key] = REDACTED;
          else if (print) Object.defineProperty(out, key, { ...descriptor, configurable: true });
          else out[key] = readAccessor(value, descriptor, child);
        } else out[key] = hidden ? REDACTED : child(descriptor.value);
      }
      return out;
    };
    return copy(root, 0);
  };

  const redactValue = (key: string, value: unknown) => (isBlockedKey(key) ? REDACTED : data(value));

  return { isBlockedKey, text, value: redactValue, data } satisfies Redactor;
}

function readAccessor(owner: object, descriptor: PropertyDescriptor, copy: (value: unknown) => unknown) {
  if (!descriptor.get) return undefined;
  try {
    return copy(descriptor.get.call(owner));
  } catch (error) {
    return `[Getter threw: ${error instanceof Error ? error.message : String(error)}]`;
  }
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
