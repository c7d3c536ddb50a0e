import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Alias,
  type Document,
  type Node,
} from 'yaml';
import type { Locator, PathSegment, Problem } from './diagnostics.ts';

/**
 * YAML is parsed with the `yaml` package rather than js-yaml because it keeps every node's source
 * range, which is what lets each problem point at its line and column.
 */
export interface Loaded {
  data: unknown;
  locator: Locator;
}

/** Aliases expand when the document is read: more than this many is refused as a billion-laughs attack. */
export const MAX_ALIAS_COUNT = 100;

export function parseYamlSpec(text: string, file: string): { loaded?: Loaded; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  } catch (error) {
    // Only resource exhaustion gets here (nesting deep enough to overflow the parser's stack).
    return { problems: [unreadable(file, error)] };
  }

  // Only the first syntax error: after one, a YAML parser's further errors are mostly echoes of it.
  const [error] = doc.errors;
  if (error) {
    const { line, col } = position(error.pos[0]);
    return {
      problems: [{ file, line, col, path: '', message: yamlErrorMessage(error.code, error.message) }],
    };
  }
  const problems: Problem[] = [];

  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
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
  if (!isMap(doc.contents)) {
    const { line, col } = position(doc.contents.range?.[0] ?? 0);
    return {
      problems: [
        {
          file,
          line,
          col,
          path: '',
          message:
            'the spec must be a mapping of keys such as version, project and services; see otelkit.schema.json',
        },
      ],
    };
  }

  const aliasProblems = checkAliases(doc, file, position);
  if (aliasProblems.length > 0) return { problems: aliasProblems };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const first = firstAlias(doc);
    const { line, col } = first ? position(first.range?.[0] ?? 0) : { line: 1, col: 1 };
    return /alias count/i.test((error as Error).message)
      ? { problems: [{ file, line, col, path: '', message: tooManyAliases() }] }
      : { problems: [unreadable(file, error)] };
  }
  return { loaded: { data, locator: yamlLocator(doc, position) }, problems };
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

function firstAlias(doc: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(doc, {
    Alias(_, node) {
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * Aliases checked before the document is read: each needs its anchor earlier in the file, their
 * count is limited, and a key made through an alias must not repeat another key of its mapping
 * (the parser's own duplicate check compares only the keys as written).
 */
function checkAliases(
  doc: Document,
  file: string,
  position: (offset: number) => { line: number; col: number },
): Problem[] {
  const problems: Problem[] = [];
  const at = (node: Node) => position(node.range?.[0] ?? 0);
  let count = 0;
  visit(doc, {
    Alias(_, node) {
      count += 1;
      if (count === MAX_ALIAS_COUNT + 1) {
        problems.push({ file, ...at(node), path: '', message: tooManyAliases() });
      }
      if (node.resolve(doc) === undefined) {
        problems.push({
          file,
          ...at(node),
          path: '',
          message: `YAML alias *${node.source} has no anchor &${node.source} before it; define the anchor first or write the value out`,
        });
      }
    },
    Map(_, map) {
      const seen = new Map<string, Node>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        const resolved = isAlias(key) ? key.resolve(doc) : key;
        if (resolved === undefined || resolved === null) continue;
        const value = isScalar(resolved) ? String(resolved.value) : JSON.stringify(resolved.toJSON());
        const earlier = seen.get(value);
        const alias = [key, earlier].find(isAlias);
        if (earlier && alias) {
          problems.push({
            file,
            ...at(key!),
            path: '',
            message: `YAML syntax error: duplicate key "${value}" (made through the alias *${alias.source}); remove or rename one of the two keys`,
          });
        }
        seen.set(value, key!);
      }
    },
  });
  return problems;
}

function yamlErrorMessage(code: string, message: string): string {
  const firstLine = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const hints: Record<string, string> = {
    DUPLICATE_KEY: 'remove or rename one of the two keys',
    BAD_INDENT: 'indent nested keys consistently with spaces',
    TAB_AS_INDENT: 'indent with spaces, not tabs',
    MISSING_CHAR: 'close the quote or bracket',
    UNEXPECTED_TOKEN: 'check the quoting and indentation on this line',
    BLOCK_AS_IMPLICIT_KEY: 'check the indentation: a nested block needs its own key',
    MULTILINE_IMPLICIT_KEY: 'a key must be on one line; check for a missing ":" or quote',
  };
  if (/call stack/i.test(firstLine)) {
    return 'the YAML nests too deeply to be read (the parser ran out of stack); nest less deeply and write the spec out plainly';
  }
  const hint = hints[code] ?? 'fix the YAML syntax here';
  return `YAML syntax error: ${firstLine}; ${hint}`;
}

function yamlLocator(doc: Document, position: (offset: number) => { line: number; col: number }): Locator {
  return {
    locate(path: readonly PathSegment[], options = {}) {
      let node: unknown = doc.contents;
      let keyNode: Node | undefined;
      let best: Node | undefined = doc.contents ?? undefined;
      for (const segment of path) {
        keyNode = undefined;
        if (isMap(node)) {
          const pair = node.items.find(
            (item) => isPair(item) && isScalar(item.key) && item.key.value === segment,
          );
          if (!pair) break;
          keyNode = pair.key as Node;
          node = pair.value;
          best = (pair.value as Node | null) ?? keyNode;
        } else if (isSeq(node) && typeof segment === 'number') {
          const item = node.items[segment];
          if (item === undefined) break;
          node = item;
          best = item as Node;
        } else {
          break;
        }
      }
      const target = options.key && keyNode ? keyNode : best;
      return position(target?.range?.[0] ?? 0);
    },
  };
}
