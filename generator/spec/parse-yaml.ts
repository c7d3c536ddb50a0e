import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Locator, PathSegment, Problem } from './diagnostics.ts';

/**
 * YAML is parsed with the `yaml` package rather than js-yaml because it keeps every node's source
 * range, which is what lets each problem point at its line and column.
 */
export interface Loaded {
  data: unknown;
  locator: Locator;
}

export function parseYamlSpec(text: string, file: string): { loaded?: Loaded; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };

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

  const data = doc.toJS({ maxAliasCount: 100 });
  return { loaded: { data, locator: yamlLocator(doc, position) }, problems };
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
