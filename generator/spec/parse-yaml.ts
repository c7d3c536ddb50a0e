import {
  COLLECTION_STYLE,
  constructFromEvents,
  EVENT_ID,
  parseEvents,
  SCALAR_STYLE,
  YAMLException,
  type DocumentEvent,
  type Event,
  type ScalarEvent,
} from 'js-yaml';
import type { Locator, PathSegment, Problem } from './diagnostics.ts';

/**
 * YAML is read with js-yaml's event parser (the same library writes every generated file): its
 * events carry source offsets, from which a light node tree is built that locates each problem by
 * line and column and checks the aliases; the data itself is constructed by js-yaml from the same
 * events.
 */
export interface Loaded {
  data: unknown;
  locator: Locator;
}

/** Aliases are refused past this many (or past this many copies when expanded): billion laughs. */
export const MAX_ALIAS_COUNT = 100;

/** js-yaml's own limit; deeper nesting is refused before its recursive parser could overflow. */
const MAX_DEPTH = 100;

type YamlNode = MapNode | SeqNode | ScalarNode | AliasNode;
interface NodeBase {
  /** Offset where the node is written: its first key, bracket, opening quote, `|`, `*`. */
  start: number;
  /** Anchor name (`&name`), if any. */
  anchor?: string;
  /** Index of the node's (first) event. */
  from: number;
}
interface MapNode extends NodeBase {
  kind: 'map';
  pairs: { key: YamlNode; value: YamlNode }[];
}
interface SeqNode extends NodeBase {
  kind: 'seq';
  items: YamlNode[];
}
interface ScalarNode extends NodeBase {
  kind: 'scalar';
}
interface AliasNode extends NodeBase {
  kind: 'alias';
  source: string;
  /** The anchored node written last before the alias, as YAML resolves it; undefined if none. */
  target: YamlNode | undefined;
}

type Position = { line: number; col: number };

export function parseYamlSpec(text: string, file: string): { loaded?: Loaded; problems: Problem[] } {
  const position = positions(text);
  const refused = (error: unknown): Problem => {
    if (!(error instanceof YAMLException)) return unreadable(file, error);
    const { offset, message } = syntaxError(text, error);
    return { file, ...position(offset), path: '', message };
  };
  let events: Event[];
  try {
    events = parseEvents(text, { maxDepth: MAX_DEPTH });
  } catch (error) {
    // Only the first syntax error: the parser stops there.
    return { problems: [refused(error)] };
  }

  const documents = events.filter((e): e is DocumentEvent => e.type === EVENT_ID.DOCUMENT);
  const { roots: trees, nodes } = buildTrees(text, events);
  if (trees.length > 1) {
    // the second document begins at its "---" line
    const marker = [...text.slice(0, trees[1]!.start).matchAll(/^---/gm)].at(-1);
    return {
      problems: [
        {
          file,
          ...position(marker?.index ?? trees[1]!.start),
          path: '',
          message:
            'YAML syntax error: the file holds more than one YAML document; keep the whole spec in one document (remove the "---" line)',
        },
      ],
    };
  }
  const root = trees[0];
  const document = documents[0]!;
  const scalarValue = (node: ScalarNode) => construct(text, document, [events[node.from]!]);
  if (root === undefined || (root.kind === 'scalar' && scalarValue(root) === null)) {
    return {
      problems: [
        {
          file,
          line: 1,
          col: 1,
          path: '',
          message:
            'the spec is empty; run "otelkit init" to write a starter spec, or add at least version, project, services and alerting',
        },
      ],
    };
  }
  if (root.kind !== 'map') {
    return {
      problems: [
        {
          file,
          ...position(root.start),
          path: '',
          message:
            'the spec must be a mapping of keys such as version, project and services; see otelkit.schema.json',
        },
      ],
    };
  }

  let keyValue: (node: ScalarNode) => unknown;
  try {
    keyValue = keyValues(text, document, events, nodes);
  } catch (error) {
    return { problems: [refused(error)] };
  }
  const duplicate = writtenDuplicate(nodes, keyValue);
  if (duplicate) {
    return {
      problems: [
        {
          file,
          ...position(duplicate.start),
          path: '',
          message: 'YAML syntax error: Map keys must be unique; remove or rename one of the two keys',
        },
      ],
    };
  }
  const aliasProblems = checkAliases(nodes, file, position, keyValue);
  if (aliasProblems.length > 0) return { problems: aliasProblems };
  if (expandsTooFar(nodes)) {
    const first = nodes.find((node) => node.kind === 'alias');
    return {
      problems: [{ file, ...position(first?.start ?? 0), path: '', message: tooManyAliases() }],
    };
  }

  let data: unknown;
  try {
    // `json`: a later key replaces an earlier one that only equals it as text (`1` and `"1"`);
    // keys that really repeat were refused above.
    [data] = constructFromEvents(events, { source: text, json: true });
  } catch (error) {
    return { problems: [refused(error)] };
  }
  return { loaded: { data, locator: yamlLocator(root, position, keyValue) }, problems: [] };
}

/** Line and column (1-based) of an offset; only `\n` ends a line. */
function positions(text: string): (offset: number) => Position {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, col: offset - starts[low]! + 1 };
  };
}

function construct(text: string, document: DocumentEvent, events: Event[]): unknown {
  const [value] = constructFromEvents([document, ...events, { type: EVENT_ID.POP }], {
    source: text,
    json: true,
  });
  return value;
}

function unreadable(file: string, error: unknown): Problem {
  const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  return {
    file,
    line: 1,
    col: 1,
    path: '',
    message: `the YAML cannot be read (${reason}); nest less deeply and write the spec out plainly`,
  };
}

const tooManyAliases = () =>
  `the aliases here would expand to more than ${MAX_ALIAS_COUNT} copies, which is refused as a resource exhaustion attack; write the values out instead of repeating the alias`;

/**
 * js-yaml's reason, worded as the spec's messages are (the bad-spec corpus pins them), with a hint
 * on how to fix it.
 */
function syntaxError(text: string, error: YAMLException): { offset: number; message: string } {
  const reason = error.reason;
  const offset = error.mark?.position ?? 0;
  if (/^nesting exceeded maxDepth/.test(reason)) {
    return {
      offset,
      message: `the YAML nests too deeply to be read (more than ${MAX_DEPTH} levels); nest less deeply and write the spec out plainly`,
    };
  }
  const unclosed = unclosedQuote(text, reason, offset);
  if (unclosed) {
    return {
      offset: unclosed.offset,
      message: `YAML syntax error: Missing closing ${unclosed.quote}quote; close the quote or bracket`,
    };
  }
  if (
    reason === 'deficient indentation' &&
    /within a flow collection/.test(
      unclosedIn(text.slice(0, Math.max(text.lastIndexOf('\n', offset - 1), 0))),
    )
  ) {
    return {
      offset,
      message:
        'YAML syntax error: a flow collection ([...] or {...}) is not closed before the next line; close the quote or bracket',
    };
  }
  const worded: [RegExp, string, string][] = [
    [/^tab characters/, 'Tabs are not allowed as indentation', 'indent with spaces, not tabs'],
    [/^bad indentation|^deficient indentation/, reason, 'indent nested keys consistently with spaces'],
    [/within a flow collection|^missed comma/, reason, 'close the quote or bracket'],
    [
      /multiline key may not be an implicit key/,
      reason,
      'a key must be on one line; check for a missing ":" or quote',
    ],
    [
      /^expected ':'|whitespace character is expected/,
      reason,
      'check the quoting and indentation on this line',
    ],
  ];
  const [, wording, hint] = worded.find(([pattern]) => pattern.test(reason)) ?? [
    undefined,
    reason,
    'fix the YAML syntax here',
  ];
  return { offset, message: `YAML syntax error: ${wording}; ${hint}` };
}

/**
 * A quoted scalar left open. The parser stops at the end of the file or at the first line indented
 * too little to continue it; the problem is put at the end of the line the scalar was meant to end
 * on, or at the end of the file when no closing quote follows anywhere.
 */
function unclosedQuote(text: string, reason: string, offset: number) {
  const atEnd = /within a (single|double) quoted scalar/.exec(reason);
  if (atEnd) return { quote: atEnd[1] === 'single' ? "'" : '"', offset: text.length };
  if (reason !== 'deficient indentation') return undefined;
  // still inside a quoted scalar when the under-indented line began: the text before that line
  // break leaves one open
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const open = /within a (single|double) quoted scalar/.exec(
    unclosedIn(text.slice(0, Math.max(lineStart - 1, 0))),
  );
  if (!open) return undefined;
  const quote = open[1] === 'single' ? "'" : '"';
  return { quote, offset: text.includes(quote, lineStart) ? lineStart - 1 : text.length };
}

/** Why a prefix of the text fails to parse ('' when it parses). */
function unclosedIn(prefix: string): string {
  try {
    parseEvents(prefix, { maxDepth: MAX_DEPTH });
    return '';
  } catch (error) {
    return error instanceof YAMLException ? error.reason : '';
  }
}

/**
 * One tree per document, from the event stream, and every node in document order (the order of the
 * events, parents before their children, keys before their values).
 */
function buildTrees(text: string, events: Event[]): { roots: YamlNode[]; nodes: YamlNode[] } {
  const roots: YamlNode[] = [];
  const nodes: YamlNode[] = [];
  const stack: (MapNode | SeqNode)[] = [];
  const pendingKey: (YamlNode | undefined)[] = [];
  const anchors = new Map<string, YamlNode>();
  let lastEnd = 0;
  const add = (node: YamlNode) => {
    const parent = stack.at(-1);
    if (
      node.start === -1 &&
      (parent === undefined || parent.kind === 'seq' || pendingKey[stack.length - 1] === undefined)
    )
      node.start = lastEnd;
    if (parent === undefined) roots.push(node);
    else if (parent.kind === 'seq') parent.items.push(node);
    else {
      const key = pendingKey[stack.length - 1];
      if (key === undefined) pendingKey[stack.length - 1] = node;
      else {
        if (node.start === -1) node.start = key.start;
        parent.pairs.push({ key, value: node });
        pendingKey[stack.length - 1] = undefined;
      }
    }
    if (node.anchor !== undefined) anchors.set(node.anchor, node);
    nodes.push(node);
  };
  const anchorOf = (event: { anchorStart: number; anchorEnd: number }) =>
    event.anchorStart === -1 ? undefined : text.slice(event.anchorStart, event.anchorEnd);

  for (const [index, event] of events.entries()) {
    switch (event.type) {
      case EVENT_ID.DOCUMENT:
        anchors.clear();
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        const node: MapNode | SeqNode =
          event.type === EVENT_ID.MAPPING
            ? { kind: 'map', start: event.start, from: index, pairs: [] }
            : { kind: 'seq', start: event.start, from: index, items: [] };
        const anchor = anchorOf(event);
        if (anchor !== undefined) node.anchor = anchor;
        add(node);
        stack.push(node);
        pendingKey[stack.length - 1] = undefined;
        lastEnd = text[event.start] === '[' || text[event.start] === '{' ? event.start + 1 : event.start;
        break;
      }
      case EVENT_ID.POP:
        stack.pop();
        break;
      case EVENT_ID.SCALAR: {
        const start = scalarStart(text, event, lastEnd);
        const node: ScalarNode = { kind: 'scalar', start, from: index };
        const anchor = anchorOf(event);
        if (anchor !== undefined) node.anchor = anchor;
        add(node);
        if (event.valueStart !== -1) {
          const quoted =
            event.style === SCALAR_STYLE.SINGLE_QUOTED || event.style === SCALAR_STYLE.DOUBLE_QUOTED;
          lastEnd = event.valueEnd + (quoted ? 1 : 0);
        } else if (start !== -1) lastEnd = start;
        break;
      }
      case EVENT_ID.ALIAS: {
        const source = text.slice(event.anchorStart, event.anchorEnd);
        add({
          kind: 'alias',
          start: event.anchorStart - 1,
          from: index,
          source,
          target: anchors.get(source),
        });
        lastEnd = event.anchorEnd;
        break;
      }
    }
  }
  return { roots, nodes };
}

/**
 * Where a scalar is written: the opening quote of a quoted one, the `|` or `>` of a block one, and
 * for an empty one (`key:` with nothing after it) just after the `:` or `-` and the spaces after it;
 * -1 for a key written without any value.
 */
function scalarStart(text: string, event: ScalarEvent, lastEnd: number): number {
  switch (event.style) {
    case SCALAR_STYLE.SINGLE_QUOTED:
    case SCALAR_STYLE.DOUBLE_QUOTED:
      return event.valueStart - 1;
    case SCALAR_STYLE.LITERAL_BLOCK:
    case SCALAR_STYLE.FOLDED_BLOCK: {
      // the header (indicator, optional indentation and chomping, optional comment) ends the line
      // before the content
      const headerEnd = text.lastIndexOf('\n', event.valueStart - 1);
      const lineStart = text.lastIndexOf('\n', headerEnd - 1) + 1;
      const line = text.slice(lineStart, headerEnd);
      const header = /(?:^|[ \t])([|>])[1-9+-]{0,2}[ \t]*(?:#.*)?\r?$/.exec(line);
      return header ? lineStart + header.index + header[0].indexOf(header[1]!) : event.valueStart;
    }
  }
  if (event.valueStart !== -1) return event.valueStart;
  let at = Math.max(lastEnd, event.tagEnd, event.anchorEnd);
  if (event.tagEnd === -1 && event.anchorEnd === -1) {
    for (;;) {
      while (at < text.length && /[ \t\r\n]/.test(text[at]!)) at++;
      if (text[at] !== '#') break;
      while (at < text.length && text[at] !== '\n') at++;
    }
    // a key with no `:` after it (`{a, b}`) has no value written: it is placed at its key
    if (!':-?'.includes(text[at] ?? '-')) return -1;
    at++;
  }
  while (text[at] === ' ' || text[at] === '\t') at++;
  return at;
}

/**
 * The value of each scalar key as YAML types it (`1` and `1.0` are the same key, `"1"` is not),
 * constructed by js-yaml in one pass over a sequence of all the key events.
 */
function keyValues(text: string, document: DocumentEvent, events: Event[], nodes: YamlNode[]) {
  const keys: ScalarNode[] = [];
  for (const node of nodes) {
    if (node.kind === 'map') for (const { key } of node.pairs) if (key.kind === 'scalar') keys.push(key);
  }
  const sequence: Event = {
    type: EVENT_ID.SEQUENCE,
    start: 0,
    anchorStart: -1,
    anchorEnd: -1,
    tagStart: -1,
    tagEnd: -1,
    style: COLLECTION_STYLE.BLOCK,
  };
  const [constructed] = constructFromEvents(
    [
      document,
      sequence,
      ...keys.map((key) => events[key.from]!),
      { type: EVENT_ID.POP },
      { type: EVENT_ID.POP },
    ],
    { source: text, json: true },
  ) as [unknown[]];
  const values = new Map(keys.map((key, index) => [key, constructed[index]]));
  return (node: ScalarNode) => {
    if (!values.has(node)) values.set(node, construct(text, document, [events[node.from]!]));
    return values.get(node);
  };
}

/** The first key, in the file, that repeats a key of its mapping as written. */
function writtenDuplicate(nodes: YamlNode[], keyValue: (node: ScalarNode) => unknown): YamlNode | undefined {
  let first: YamlNode | undefined;
  for (const node of nodes) {
    if (node.kind !== 'map') continue;
    const seen = new Set<unknown>();
    for (const { key } of node.pairs) {
      if (key.kind !== 'scalar') continue;
      const value = keyValue(key);
      if (seen.has(value) && (first === undefined || key.start < first.start)) first = key;
      seen.add(value);
    }
  }
  return first;
}

/**
 * Aliases checked before the document is read: each needs its anchor earlier in the file, their
 * count is limited, and a key made through an alias must not repeat another key of its mapping
 * (the check above compares only the keys as written).
 */
function checkAliases(
  nodes: YamlNode[],
  file: string,
  position: (offset: number) => Position,
  keyValue: (node: ScalarNode) => unknown,
): Problem[] {
  const problems: Problem[] = [];
  let count = 0;
  const keyText = (key: YamlNode): string | undefined => {
    const resolved = key.kind === 'alias' ? key.target : key;
    if (resolved === undefined) return undefined;
    if (resolved.kind === 'scalar') return String(keyValue(resolved));
    if (resolved.kind === 'alias') return undefined;
    return JSON.stringify(collectionValue(resolved));
  };
  for (const node of nodes) {
    if (node.kind === 'alias') {
      count += 1;
      if (count === MAX_ALIAS_COUNT + 1) {
        problems.push({ file, ...position(node.start), path: '', message: tooManyAliases() });
      }
      if (node.target === undefined) {
        problems.push({
          file,
          ...position(node.start),
          path: '',
          message: `YAML alias *${node.source} has no anchor &${node.source} before it; define the anchor first or write the value out`,
        });
      }
    } else if (node.kind === 'map') {
      const seen = new Map<string, YamlNode>();
      for (const { key } of node.pairs) {
        const value = keyText(key);
        if (value === undefined) continue;
        const earlier = seen.get(value);
        const alias = [key, earlier].find((k): k is AliasNode => k?.kind === 'alias');
        if (earlier && alias) {
          problems.push({
            file,
            ...position(key.start),
            path: '',
            message: `YAML syntax error: duplicate key "${value}" (made through the alias *${alias.source}); remove or rename one of the two keys`,
          });
        }
        seen.set(value, key);
      }
    }
  }
  return problems;

  function collectionValue(node: YamlNode): unknown {
    switch (node.kind) {
      case 'scalar':
        return keyValue(node);
      case 'alias':
        return node.target ? collectionValue(node.target) : null;
      case 'seq':
        return node.items.map(collectionValue);
      case 'map':
        return Object.fromEntries(
          node.pairs.map((p) => [String(collectionValue(p.key)), collectionValue(p.value)]),
        );
    }
  }
}

/**
 * Whether reading the document would expand aliases past MAX_ALIAS_COUNT copies: each use of an
 * anchor counts once per alias inside what it anchors, compounded through nested aliases (the same
 * measure the `yaml` package applies, so aliases of aliases cannot multiply unnoticed).
 */
function expandsTooFar(nodes: YamlNode[]): boolean {
  const anchored = new Map<YamlNode, { count: number; aliasCount: number }>();
  const aliasCount = (node: YamlNode): number => {
    switch (node.kind) {
      case 'alias': {
        const data = node.target && anchored.get(node.target);
        return data ? data.count * data.aliasCount : 0;
      }
      case 'map':
        return node.pairs.reduce((max, p) => Math.max(max, aliasCount(p.key), aliasCount(p.value)), 0);
      case 'seq':
        return node.items.reduce((max, item) => Math.max(max, aliasCount(item)), 0);
      case 'scalar':
        return 1;
    }
  };
  for (const node of nodes) {
    if (node.anchor !== undefined && node.kind !== 'alias') anchored.set(node, { count: 1, aliasCount: 0 });
    if (node.kind !== 'alias' || node.target === undefined) continue;
    const data = anchored.get(node.target);
    if (!data) continue;
    data.count += 1;
    if (data.aliasCount === 0) data.aliasCount = aliasCount(node.target);
    if (data.count * data.aliasCount > MAX_ALIAS_COUNT) return true;
  }
  return false;
}

function yamlLocator(
  root: YamlNode,
  position: (offset: number) => Position,
  keyValue: (node: ScalarNode) => unknown,
): Locator {
  return {
    locate(path: readonly PathSegment[], options = {}) {
      let node: YamlNode = root;
      let keyNode: YamlNode | undefined;
      let best: YamlNode = root;
      for (const segment of path) {
        keyNode = undefined;
        if (node.kind === 'map') {
          const pair = node.pairs.find(({ key }) => key.kind === 'scalar' && keyValue(key) === segment);
          if (!pair) break;
          keyNode = pair.key;
          node = pair.value;
          best = pair.value;
        } else if (node.kind === 'seq' && typeof segment === 'number') {
          const item = node.items[segment];
          if (item === undefined) break;
          node = item;
          best = item;
        } else {
          break;
        }
      }
      const target = options.key && keyNode ? keyNode : best;
      return position(target.start);
    },
  };
}
