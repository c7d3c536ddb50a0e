import { parseArgs } from 'node:util';
import path from 'node:path';
import { SpecError, formatProblem } from '../spec/diagnostics.ts';
import { findSpec, loadSpec } from '../spec/load.ts';
import { diffOutput, render, specLabel, writeOutput } from '../emit/emit.ts';
import { generateArtifacts } from '../targets/index.ts';
import { jsonSchema } from '../spec/json-schema.ts';
import { runInit } from './init.ts';
import { runValidate } from './validate.ts';
import { runVerify } from './verify.ts';
import { runDebugToken } from './debug-token.ts';
import { UsageError, type Io } from './io.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const USAGE = `usage: otelkit <command> [options]

commands:
  init [--ts] [--force]                 write a starter otelkit.yaml (or otelkit.config.ts with --ts)
  generate [spec] [--out dir] [--check] write every artifact; --check only compares with what is there
  validate [spec]                       check the spec and the generated files with the real tools
  verify [spec]                         bring the generated stack up, probe it end to end, tear it down
  debug-token --ttl 15m                 mint a signed X-Debug-Token (secret from OTELKIT_DEBUG_SECRET)
  schema                                print the spec's JSON Schema

options:
  --debug    print stack traces of unexpected errors
  --help     show this help

With no spec, otelkit uses otelkit.yaml, otelkit.yml or otelkit.config.ts in the working directory.
Exit codes: 0 success, 1 a check failed, 2 bad usage or an invalid spec.`;

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof SpecError) {
      for (const problem of error.problems) io.err(formatProblem(problem));
      io.err(
        `${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} in the spec; nothing was written`,
      );
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.err(`otelkit: ${error.message}`);
      io.err('run "otelkit --help" for usage');
      return EXIT.usage;
    }
    io.err(`otelkit: ${error instanceof Error ? error.message : String(error)}`);
    if (debug && error instanceof Error && error.stack) io.err(error.stack);
    else io.err('(run again with --debug for the stack trace)');
    return EXIT.failed;
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv.filter((a) => a !== '--debug');
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  switch (command) {
    case 'init': {
      const { values } = parse(rest, { ts: { type: 'boolean' }, force: { type: 'boolean' } }, 0);
      return runInit(io, { ts: values.ts === true, force: values.force === true });
    }
    case 'generate': {
      const { values, positionals } = parse(rest, { out: { type: 'string' }, check: { type: 'boolean' } }, 1);
      return generate(io, positionals[0], values.out as string | undefined, values.check === true);
    }
    case 'validate': {
      const { positionals } = parse(rest, {}, 1);
      const specFile = resolveSpec(io, positionals[0]);
      return runValidate(io, await loadSpec(specFile, display(io, specFile)));
    }
    case 'verify': {
      const { positionals } = parse(rest, {}, 1);
      const specFile = resolveSpec(io, positionals[0]);
      return runVerify(io, await loadSpec(specFile, display(io, specFile)));
    }
    case 'debug-token':
      return runDebugToken(io, rest);
    case 'schema': {
      parse(rest, {}, 0);
      io.out(JSON.stringify(jsonSchema(), null, 2));
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

type Options = Parameters<typeof parseArgs>[0] extends infer T
  ? T extends { options?: infer O }
    ? O
    : never
  : never;

function parse(args: string[], options: NonNullable<Options>, maxPositionals: number) {
  let result;
  try {
    result = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/, ''));
  }
  if (result.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${result.positionals[maxPositionals]}"`);
  }
  return result;
}

function resolveSpec(io: Io, given: string | undefined): string {
  if (given !== undefined) return path.resolve(io.cwd, given);
  const found = findSpec(io.cwd);
  if (!found) {
    throw new UsageError('no spec found: name one, or run "otelkit init" to write otelkit.yaml here');
  }
  return found;
}

function display(io: Io, file: string): string {
  const relative = path.relative(io.cwd, file);
  return relative.startsWith('..') ? file : relative.split(path.sep).join('/');
}

async function generate(
  io: Io,
  given: string | undefined,
  out: string | undefined,
  check: boolean,
): Promise<number> {
  const specFile = resolveSpec(io, given);
  const loaded = await loadSpec(specFile, display(io, specFile));
  const outDir = path.resolve(io.cwd, out ?? '.');
  const files = render(generateArtifacts(loaded.model), specLabel(specFile, outDir));
  if (check) {
    const diff = await diffOutput(outDir, files);
    const problems = [
      ...diff.changed.map((f) => `  changed: ${f}`),
      ...diff.missing.map((f) => `  missing: ${f}`),
      ...diff.stale.map((f) => `  stale:   ${f} (no longer generated)`),
    ];
    if (problems.length === 0) {
      io.err(`${files.size} generated files in ${display(io, outDir) || '.'} are up to date`);
      return EXIT.ok;
    }
    io.err(`generated files differ from ${loaded.file}:`);
    for (const line of problems) io.err(line);
    io.err(
      `run "otelkit generate${given ? ` ${given}` : ''}${out ? ` --out ${out}` : ''}" and commit the result`,
    );
    return EXIT.failed;
  }
  const diff = await writeOutput(outDir, files);
  const written = diff.changed.length + diff.missing.length;
  io.err(
    `${files.size} files from ${loaded.file} in ${display(io, outDir) || '.'}: ${written} written, ${files.size - written} unchanged` +
      (diff.stale.length ? `, ${diff.stale.length} stale removed` : ''),
  );
  return EXIT.ok;
}
