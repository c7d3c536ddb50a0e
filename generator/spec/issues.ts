import { z } from 'zod';
import { closest, formatPath, type Locator, type PathSegment, type Problem } from './diagnostics.ts';
import { SECRET_KEY_REPLACEMENTS } from './schema.ts';

/** Wording for zod's built-in checks, phrased in the spec's terms and ending with the fix. */
export const specErrorMap: z.core.$ZodErrorMap = (issue) => {
  const field = lastKey(issue.path ?? []);
  if (issue.input === undefined && issue.code !== 'unrecognized_keys' && issue.code !== 'custom') {
    return `missing required key "${field}"; add it`;
  }
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${article(issue.expected)}, got ${describe(issue.input)}; write ${example(issue.expected)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(issue.input)}; use one of those`;
    case 'too_small':
      if (issue.origin === 'array')
        return `needs at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}; add ${issue.minimum === 1 ? 'one' : 'more'}`;
      if (issue.origin === 'string') return `must not be empty; write a value`;
      return `must be ${issue.inclusive ? 'at least' : 'above'} ${issue.minimum}, got ${describe(issue.input)}; raise it`;
    case 'too_big':
      if (issue.origin === 'array') return `holds more than ${issue.maximum} items; remove some`;
      return `must be ${issue.inclusive ? 'at most' : 'below'} ${issue.maximum}, got ${describe(issue.input)}; lower it`;
    case 'invalid_format':
      if (issue.format === 'starts_with')
        return `must start with "${(issue as { prefix?: string }).prefix}", got ${describe(issue.input)}; fix the value`;
      return `is not a valid ${issue.format}; fix the value`;
    case 'not_multiple_of':
      return `must be a whole number; drop the fraction`;
    default:
      return undefined;
  }
};

function lastKey(path: readonly PropertyKey[]): string {
  for (let i = path.length - 1; i >= 0; i--) if (typeof path[i] === 'string') return path[i] as string;
  return 'value';
}

function article(expected: string): string {
  if (expected === 'int') return 'a whole number';
  if (expected === 'object') return 'a mapping';
  if (expected === 'array') return 'a list';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function example(expected: string): string {
  switch (expected) {
    case 'string':
      return 'text, quoted if it looks like a number or boolean';
    case 'number':
    case 'int':
      return 'a number without quotes';
    case 'boolean':
      return 'true or false without quotes';
    case 'array':
      return 'a list ("- item" lines or [a, b])';
    case 'object':
      return 'nested "key: value" lines';
    default:
      return `${article(expected)}`;
  }
}

export function describe(value: unknown): string {
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number') return `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

/** Converts zod issues to located problems; unknown keys get one problem each, at the key itself. */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  data: unknown,
  file: string,
  locator: Locator,
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(schema, data, path);
      for (const key of issue.keys) {
        const { line, col } = locator.locate([...path, key], { key: true });
        problems.push({
          file,
          line,
          col,
          path: formatPath([...path, key]),
          message: unknownKeyMessage(key, allowed),
        });
      }
      continue;
    }
    const missing = issue.input === undefined && issue.message.startsWith('missing required key');
    const { line, col } = locator.locate(missing ? path.slice(0, -1) : path);
    problems.push({ file, line, col, path: formatPath(path), message: issue.message });
  }
  return problems;
}

/** Keys that state the load as an earlier otelkit did, or in traces, and what states it now. */
const MOVED_KEYS: Readonly<Record<string, { to: string; message: string }>> = {
  expected_traces_per_second: {
    to: 'expected_load',
    message:
      'the load is declared in expected_load now; write expected_load.spans_per_second (traces per second × expected_load.spans_per_trace, 10 unless set)',
  },
  traces_per_second: {
    to: 'spans_per_trace',
    message:
      'the load counts spans, and traces per second follow from spans_per_second / spans_per_trace; write spans_per_second as traces per second × spans_per_trace',
  },
};

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const secret = SECRET_KEY_REPLACEMENTS[key];
  if (secret && allowed.includes(secret)) {
    return `unknown key "${key}": secrets never go in the spec; put it in a file and set ${secret} to its path`;
  }
  const moved = MOVED_KEYS[key];
  if (moved && allowed.includes(moved.to)) return `unknown key "${key}": ${moved.message}`;
  const suggestion = closest(key, allowed);
  const hint = suggestion ? `did you mean "${suggestion}"?` : `remove it`;
  return `unknown key "${key}"; ${hint} (allowed here: ${allowed.join(', ')})`;
}

/** Walks the schema alongside the data to the object at `path` and lists its keys. */
function allowedKeysAt(schema: z.ZodType, data: unknown, path: readonly PathSegment[]): string[] {
  let current: z.ZodType | undefined = schema;
  let value = data;
  for (const segment of [...path, undefined]) {
    current = current && unwrapSchema(current, value);
    if (segment === undefined || !current) break;
    if (current instanceof z.ZodObject) {
      current = current.shape[segment] as z.ZodType | undefined;
    } else if (current instanceof z.ZodArray) {
      current = current.element as z.ZodType;
    } else {
      current = undefined;
    }
    value = (value as Record<PathSegment, unknown> | undefined)?.[segment];
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unwrapSchema(schema: z.ZodType, value: unknown): z.ZodType | undefined {
  let current: z.ZodType = schema;
  for (;;) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodPrefault ||
      current instanceof z.ZodNullable
    ) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodDiscriminatedUnion) {
      const discriminator = current.def.discriminator;
      const tag = (value as Record<string, unknown> | undefined)?.[discriminator];
      const option = (current.options as z.ZodType[]).find(
        (o) => o instanceof z.ZodObject && (o.shape[discriminator] as z.ZodLiteral).values.has(tag as never),
      );
      if (!option) return undefined;
      current = option;
    } else {
      return current;
    }
  }
}
