import { dump } from 'js-yaml';

/**
 * The options every generated YAML file is written with. `noRefs`: a value used twice is written
 * twice (no anchors); `lineWidth: -1`: lines are never folded.
 */
export const DUMP_OPTIONS = { noRefs: true, lineWidth: -1 } as const;

/**
 * YAML documents written as js-yaml's `dump(content, DUMP_OPTIONS)` writes them, byte for byte,
 * with js-yaml still deciding how every scalar is written. Why not `dump` itself: a 500-service
 * spec renders 38 MB of YAML (21 MB of promtool tests, 10 MB of PrometheusRules), 608k scalars of
 * which only 84k are distinct, and js-yaml tests every scalar against its plain/quoted/block
 * patterns anew: `dump` per document took 2.5 s of CPU (5.6-6.7 s wall; December 2026, this
 * project's 2-core VM, busy), more than the whole 2 s target, against 0.9-1.3 s here. Here
 * js-yaml writes each distinct scalar once, in one `dump` of them all, and the block layout around
 * them (js-yaml's: two-space indent, sequences indented under their key, `- ` items with a
 * mapping's first key on the dash line, empty collections as `[]` and `{}`) is laid out here.
 * Anything that layout does not cover (a non-plain object, a key that js-yaml would write as an
 * explicit `? ` key, a bare scalar document) is left to `dump` whole. test/unit/emit/yaml.test.ts
 * compares the two on generated values and on both examples' output.
 */
export function dumpAll(documents: readonly unknown[]): string[] {
  const scalars = new Scalars();
  // first every scalar is collected (a document the layout does not cover is left out), then
  // written by js-yaml at once, then the documents are laid out around them
  const covered = documents.map((document) => {
    if (!isCollection(document)) return false;
    try {
      collect(document, scalars);
      return true;
    } catch (error) {
      if (error instanceof NotCovered) return false;
      throw error;
    }
  });
  scalars.resolve();
  return documents.map((document, index) => {
    if (!covered[index]) return dump(document, DUMP_OPTIONS);
    const state = { openEnded: false };
    const text = `${write(document, scalars, state)}\n`;
    // js-yaml ends the document with "..." when its last node is a block scalar that keeps its
    // final line breaks
    return state.openEnded ? `${text}...\n` : text;
  });
}

const isPlainObject = (value: object) => {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
};
const isCollection = (value: unknown): value is object =>
  value !== null && typeof value === 'object' && (Array.isArray(value) || isPlainObject(value));

/** A document that this layout does not cover: the caller writes it with `dump` whole. */
class NotCovered extends Error {}

type Scalar = string | number | boolean;

/** Every scalar and key of a document, checking that `write` covers all of it. */
function collect(value: unknown, scalars: Scalars): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    scalars.addValue(value);
  } else if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) collect(value[index], scalars);
  } else if (typeof value === 'object' && isPlainObject(value)) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (record[key] === undefined) continue;
      // js-yaml writes these as explicit `? key` pairs
      if (key.length > 1024 || key.includes('\n')) throw new NotCovered();
      scalars.addKey(key);
      collect(record[key], scalars);
    }
  } else {
    throw new NotCovered();
  }
}

/**
 * A collected document as js-yaml lays it out: the text of a node at `level` (its writeNode in
 * block context); `compact` when it continues the line of a `- `.
 */
function write(
  value: unknown,
  scalars: Scalars,
  state: { openEnded: boolean },
  level = 0,
  compact = true,
): string {
  state.openEnded = false;
  if (value === null || value === undefined) return 'null';
  if (typeof value !== 'object') {
    const written = scalars.value(value as Scalar, level);
    state.openEnded =
      typeof value === 'string' && /^[|>]/.test(written) && (value === '\n' || value.endsWith('\n\n'));
    return written;
  }
  let text = '';
  const newline = `\n${'  '.repeat(level)}`;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    for (let index = 0; index < value.length; index++) {
      if (!compact || index > 0) text += newline;
      text += `- ${write(value[index], scalars, state, level + 1, true)}`;
    }
    return text;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (item === undefined) continue;
    if (!compact || text !== '') text += newline;
    // a non-empty collection starts on its own line, anything else after ": "
    text += `${scalars.key(key)}${startsOwnLine(item) ? ':' : ': '}${write(item, scalars, state, level + 1, false)}`;
  }
  return text === '' ? '{}' : text;
}

function startsOwnLine(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value === null || typeof value !== 'object' || !isPlainObject(value)) return false;
  for (const key in value)
    if (Object.hasOwn(value, key) && (value as Record<string, unknown>)[key] !== undefined) return true;
  return false;
}

/**
 * Every distinct scalar of the documents, written by js-yaml in one `dump`: values as the items of
 * a sequence and keys as the keys of one-key mappings in a sequence. A value written inside a
 * block collection is written the same way at any depth (the depth only matters at the document's
 * top level, which `write` never puts a scalar at), except the lines of a multi-line block
 * scalar, which are indented to their depth.
 */
class Scalars {
  readonly #values = new Map<Scalar, string>();
  readonly #keys = new Map<string, string>();
  /** -0 is written as -0.0, but is the same Map key as 0. */
  #negativeZero = false;

  addValue(value: Scalar) {
    if (Object.is(value, -0)) this.#negativeZero = true;
    else if (!this.#values.has(value)) this.#values.set(value, '');
  }

  addKey(key: string) {
    if (!this.#keys.has(key)) this.#keys.set(key, '');
  }

  resolve() {
    const values = [...this.#values.keys()];
    if (this.#negativeZero) values.push(-0);
    // a last null: a block scalar that keeps its final line breaks would end the text with "..."
    const written = itemsOf(dump([...values, null], DUMP_OPTIONS), values.length + 1);
    values.forEach((value, index) => {
      if (Object.is(value, -0)) this.#negativeZeroText = written[index]!;
      else this.#values.set(value, written[index]!);
    });
    const keys = [...this.#keys.keys()];
    const writtenKeys = itemsOf(
      dump(
        keys.map((key) => ({ [key]: 0 })),
        DUMP_OPTIONS,
      ),
      keys.length,
    );
    keys.forEach((key, index) => {
      const line = writtenKeys[index]!;
      if (!line.endsWith(': 0') || line.includes('\n'))
        throw new Error(`internal: js-yaml wrote the key ${key} as ${line}`);
      this.#keys.set(key, line.slice(0, -': 0'.length));
    });
  }

  #negativeZeroText = '';

  key(key: string): string {
    return this.#keys.get(key)!;
  }

  value(value: Scalar, level: number): string {
    const written = Object.is(value, -0) ? this.#negativeZeroText : this.#values.get(value)!;
    // lines of a block scalar were written one level deep; at `level` they are indented 2 × level
    if (level === 1 || !written.includes('\n')) return written;
    return written.replace(/\n(?=[^\n])/g, `\n${'  '.repeat(level - 1)}`);
  }
}

/** The items of a top-level block sequence as js-yaml wrote it: each starts a line with "- ". */
function itemsOf(text: string, count: number): string[] {
  if (count === 0) return [];
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (!body.startsWith('- '))
    throw new Error('internal: js-yaml wrote the scalars other than as a block sequence');
  const items = body.slice(2).split('\n- ');
  if (items.length !== count) throw new Error(`internal: js-yaml wrote ${items.length} of ${count} scalars`);
  return items;
}
