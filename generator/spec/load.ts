import { readFile, stat } from 'node:fs/promises';
import { existsSync, readFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { SpecError, formatPath, type Problem } from './diagnostics.ts';
import { issuesToProblems, specErrorMap } from './issues.ts';
import { parseYamlSpec, type Loaded } from './parse-yaml.ts';
import { loadTsSpec } from './parse-ts.ts';
import { rulesDespiteSchemaProblems } from './partial.ts';
import { checkRules, type RuleProblem } from './rules.ts';
import { specSchema, type ParsedSpec } from './schema.ts';
import type { Model } from '../model/model.ts';
import { toModel } from './normalise.ts';

export const SPEC_FILE_NAMES = ['otelkit.yaml', 'otelkit.yml', 'otelkit.config.ts'] as const;
export const BUNDLED_EXAMPLE = 'examples/shop/otelkit.yaml';

export interface LoadedSpec {
  file: string;
  spec: ParsedSpec;
  model: Model;
  /**
   * Where the declared load and the spec's own values disagree (capacity.ts), located like spec
   * problems; warnings: the spec is valid and generates.
   */
  warnings: Problem[];
}

/** The spec to use when none is named: one in `cwd`, or in this repository the bundled example. */
export function findSpec(cwd: string): string | undefined {
  for (const name of SPEC_FILE_NAMES) {
    const candidate = path.join(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  const example = path.join(cwd, BUNDLED_EXAMPLE);
  const manifest = path.join(cwd, 'package.json');
  if (existsSync(example) && existsSync(manifest)) {
    const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
    if (name === 'otelkit') return example;
  }
  return undefined;
}

/** parse → normalise (schema defaults) → rules → Model. Throws SpecError with every problem found. */
export async function loadSpec(
  file: string,
  displayName = file,
  options: { tsTimeoutMs?: number } = {},
): Promise<LoadedSpec> {
  let text: string;
  try {
    // Checked before opening: reading a FIFO or a device would block or never end.
    const info = await stat(file);
    if (info.isDirectory())
      throw new SpecError([whole(displayName, 'is a directory; name the spec file in it')]);
    if (!info.isFile()) {
      throw new SpecError([
        whole(displayName, `is ${fileKind(info)}, not a regular file; name the spec file itself`),
      ]);
    }
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof SpecError) throw error;
    throw new SpecError([
      whole(
        displayName,
        'cannot be read (no such file?); check the path or run "otelkit init" to create a spec',
      ),
    ]);
  }
  const parsed = file.endsWith('.ts')
    ? await loadTsSpec(file, text, options.tsTimeoutMs)
    : parseYamlSpec(text, displayName);
  for (const problem of parsed.problems) problem.file = displayName;
  if (!parsed.loaded) throw new SpecError(parsed.problems);
  return validateLoaded(parsed.loaded, displayName);
}

export function validateLoaded(loaded: Loaded, file: string): LoadedSpec {
  const locate = (problem: RuleProblem): Problem => {
    const { line, col } = loaded.locator.locate(problem.path, { key: problem.key ?? false });
    return { file, line, col, path: formatPath(problem.path), message: problem.message, rule: problem.rule };
  };
  const result = specSchema.safeParse(loaded.data, { error: specErrorMap });
  if (!result.success) {
    const schemaProblems = issuesToProblems(
      result.error.issues,
      specSchema,
      loaded.data,
      file,
      loaded.locator,
    );
    const seen = new Set(schemaProblems.map((p) => p.path));
    const ruleProblems = rulesDespiteSchemaProblems(loaded.data, result.error.issues)
      .map(locate)
      .filter((p) => !seen.has(p.path));
    throw new SpecError(sortProblems([...schemaProblems, ...ruleProblems]));
  }
  const ruleProblems = checkRules(result.data);
  if (ruleProblems.length > 0) throw new SpecError(ruleProblems.map(locate));
  const model = toModel(result.data);
  const warnings = model.collector.sizingFindings.map((finding) =>
    locate({ rule: 'collector-sizing', path: finding.path, key: true, message: finding.message }),
  );
  return { file, spec: result.data, model, warnings };
}

/** In the order a reader meets them in the file. */
const sortProblems = (problems: Problem[]) => [...problems].sort((a, b) => a.line - b.line || a.col - b.col);

function fileKind(info: Stats): string {
  if (info.isFIFO()) return 'a named pipe (FIFO)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a file';
}

function whole(file: string, message: string): Problem {
  return { file, line: 1, col: 1, path: '', message: `${file} ${message}` };
}
