import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TS from 'typescript';
import type { Locator, PathSegment, Problem } from './diagnostics.ts';
import type { Loaded } from './parse-yaml.ts';

type Ts = typeof TS;

/** A spec only computes and exports data; one still running after this is stopped. */
export const TS_SPEC_TIMEOUT_MS = 10_000;

/**
 * Runs in a child Node process: imports the spec, lets its module finish (timers and promises
 * included, so a late throw is seen), and writes the export as JSON to file descriptor 3, which
 * the spec's own console output cannot reach.
 */
const CHILD = `
import { writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const reply = (message) => { writeSync(3, JSON.stringify(message)); process.exit(0); };
const failed = (error) => reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
process.on('uncaughtException', failed);
process.on('unhandledRejection', failed);
let exported;
try {
  const module = await import(pathToFileURL(process.argv[1]).href);
  exported = module.default ?? module.spec;
} catch (error) {
  failed(error);
}
let done = false;
process.on('beforeExit', () => {
  if (done) return;
  done = true;
  if (exported === undefined) reply({ missing: true });
  let data;
  try {
    data = JSON.stringify(exported);
  } catch (error) {
    reply({ notData: error instanceof Error ? error.message : String(error) });
  }
  writeSync(3, '{"data":' + data + '}');
  process.exit(0);
});
`;

type ChildReply = { data: unknown } | { error: string } | { missing: true } | { notData: string };

function runChild(file: string, timeoutMs: number): Promise<ChildReply | { exited: string }> {
  const features = process.features as { typescript?: string | false };
  const flags = features.typescript ? [] : ['--experimental-strip-types'];
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...flags, '--no-warnings', '--input-type=module', '--eval', CHILD, file],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], cwd: path.dirname(file) },
    );
    const chunks: Buffer[] = [];
    child.stdio[3]!.on('data', (chunk: Buffer) => chunks.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      if (timedOut) {
        resolve({ exited: `did not finish within ${timeoutMs / 1000}s` });
        return;
      }
      try {
        resolve(JSON.parse(text) as ChildReply);
      } catch {
        resolve({
          exited: signal ? `was stopped by ${signal}` : `exited with code ${code} before exporting its spec`,
        });
      }
    });
  });
}

/** Where the spec file appears in a stack trace: the first frame in it, else the top of the file. */
function errorPosition(stack: string, file: string): { line: number; col: number } {
  const url = pathToFileURL(file).href;
  for (const line of stack.split('\n')) {
    const index = line.indexOf(url);
    const at = index < 0 ? -1 : index + url.length;
    const match = at < 0 ? null : /^:(\d+):(\d+)/.exec(line.slice(at));
    if (match) return { line: Number(match[1]), col: Number(match[2]) };
  }
  return { line: 1, col: 1 };
}

/**
 * Loads `otelkit.config.ts` (exporting `defineSpec({...})` as default) in a child Node process
 * with Node's own type stripping, so a spec that loops, exits or throws cannot hang or end the
 * CLI: each becomes a located problem. Positions come from the TypeScript parser when the project
 * has `typescript` installed (it does whenever someone writes a TS config in an editor);
 * otherwise problems point at the export.
 */
export async function loadTsSpec(
  file: string,
  text: string,
  timeoutMs = TS_SPEC_TIMEOUT_MS,
): Promise<{ loaded?: Loaded; problems: Problem[] }> {
  const reply = await runChild(file, timeoutMs);
  const problem = (message: string, at = { line: 1, col: 1 }) => ({
    problems: [{ file, ...at, path: '', message }],
  });
  if ('exited' in reply) {
    return problem(
      `the TypeScript spec ${reply.exited}; a spec only builds and exports its data: remove loops, timers, servers and process.exit calls`,
    );
  }
  if ('error' in reply) {
    const first = reply.error.split('\n')[0]!;
    return problem(
      `the TypeScript spec failed: ${first}; fix it there (a spec runs on Node >= 22.15 and exports default defineSpec({...}))`,
      errorPosition(reply.error, file),
    );
  }
  if ('notData' in reply) {
    return problem(
      `the TypeScript spec's export is not plain data (${reply.notData}); export only objects, arrays, strings, numbers and booleans`,
      exportLocator(text).locate([]),
    );
  }
  if ('missing' in reply) {
    return problem('the TypeScript spec has no default export; add "export default defineSpec({...})"');
  }
  const exported = reply.data;
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
