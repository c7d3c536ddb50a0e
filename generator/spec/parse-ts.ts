import { pathToFileURL } from 'node:url';
import type * as TS from 'typescript';
import type { Locator, PathSegment, Problem } from './diagnostics.ts';
import type { Loaded } from './parse-yaml.ts';

type Ts = typeof TS;

/**
 * Loads `otelkit.config.ts` (exporting `defineSpec({...})` as default) with Node's own type
 * stripping. Positions come from the TypeScript parser when the project has `typescript`
 * installed (it does whenever someone writes a TS config in an editor); otherwise problems point
 * at the export.
 */
export async function loadTsSpec(
  file: string,
  text: string,
): Promise<{ loaded?: Loaded; problems: Problem[] }> {
  let exported: unknown;
  try {
    const module = (await import(pathToFileURL(file).href)) as { default?: unknown; spec?: unknown };
    exported = module.default ?? module.spec;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      problems: [
        {
          file,
          line: 1,
          col: 1,
          path: '',
          message: `cannot load the TypeScript spec: ${message}; it must run on Node >= 22.15 and export default defineSpec({...})`,
        },
      ],
    };
  }
  if (exported === undefined) {
    return {
      problems: [
        {
          file,
          line: 1,
          col: 1,
          path: '',
          message: 'the TypeScript spec has no default export; add "export default defineSpec({...})"',
        },
      ],
    };
  }
  let ts: Ts | undefined;
  try {
    ts = (await import('typescript')).default as Ts;
  } catch {
    ts = undefined;
  }
  return {
    loaded: { data: exported, locator: ts ? tsLocator(ts, file, text) : exportLocator(text) },
    problems: [],
  };
}

function exportLocator(text: string): Locator {
  const index = text.indexOf('export default');
  const before = index < 0 ? '' : text.slice(0, index);
  const line = before.split('\n').length;
  return { locate: () => ({ line, col: 1 }) };
}

function tsLocator(ts: Ts, file: string, text: string): Locator {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  let root: TS.Node | undefined;
  const visit = (node: TS.Node) => {
    if (root) return;
    if (ts.isExportAssignment(node)) {
      root = unwrap(ts, node.expression);
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);

  const position = (node: TS.Node) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return { line: line + 1, col: character + 1 };
  };

  return {
    locate(path: readonly PathSegment[], options = {}) {
      if (!root) return exportLocator(text).locate(path);
      let node: TS.Node = root;
      let keyNode: TS.Node | undefined;
      for (const segment of path) {
        keyNode = undefined;
        const current = unwrap(ts, node);
        if (ts.isObjectLiteralExpression(current)) {
          const property = current.properties.find(
            (p) => p.name !== undefined && propertyName(ts, p.name) === String(segment),
          );
          if (!property) break;
          keyNode = property.name;
          node = ts.isPropertyAssignment(property) ? property.initializer : property;
        } else if (ts.isArrayLiteralExpression(current) && typeof segment === 'number') {
          const element = current.elements[segment];
          if (!element) break;
          node = element;
        } else {
          break;
        }
      }
      return position(options.key && keyNode ? keyNode : node);
    },
  };
}

function unwrap(ts: Ts, node: TS.Node): TS.Node {
  // defineSpec({...}), {...} as const, {...} satisfies SpecInput
  if (ts.isCallExpression(node) && node.arguments[0]) return unwrap(ts, node.arguments[0]);
  if (ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isParenthesizedExpression(node)) {
    return unwrap(ts, node.expression);
  }
  return node;
}

function propertyName(ts: Ts, name: TS.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return undefined;
}
