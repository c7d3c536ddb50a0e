import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { SpecError, formatProblem } from '../../../generator/spec/diagnostics.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { cli, tempDir } from '../../support/helpers.ts';

/** What the loader refuses before parsing anything, and how. */

async function problemsOf(file: string, name: string) {
  const error = await loadSpec(file, name).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SpecError);
  return (error as SpecError).problems.map(formatProblem);
}

describe('spec input that is not a regular file', () => {
  it('a named pipe is refused at once instead of blocking on open', async () => {
    const dir = await tempDir('fifo');
    const fifo = path.join(dir, 'otelkit.yaml');
    await execa('mkfifo', [fifo]);
    // nothing ever writes to the pipe: reading it would wait forever
    expect(await problemsOf(fifo, 'otelkit.yaml')).toEqual([
      'otelkit.yaml:1:1: otelkit.yaml is a named pipe (FIFO), not a regular file; name the spec file itself',
    ]);
    const result = await cli(['generate', fifo, '--out', path.join(dir, 'out')]);
    expect(result.code).toBe(2);
  });

  it('a device and a directory are refused too', async () => {
    expect(await problemsOf('/dev/zero', 'zero')).toEqual([
      'zero:1:1: zero is a device, not a regular file; name the spec file itself',
    ]);
    const dir = await tempDir('dirspec');
    await mkdir(path.join(dir, 'otelkit.yaml'));
    expect(await problemsOf(path.join(dir, 'otelkit.yaml'), 'otelkit.yaml')).toEqual([
      'otelkit.yaml:1:1: otelkit.yaml is a directory; name the spec file in it',
    ]);
  });
});

describe('YAML resource limits', () => {
  it('nesting deep enough to exhaust the parser is a located problem, not a crash', async () => {
    const dir = await tempDir('deep');
    const file = path.join(dir, 'deep.yaml');
    await writeFile(file, `version: 1\nx: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`);
    const problems = await problemsOf(file, 'deep.yaml');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^deep\.yaml:2:\d+: the YAML nests too deeply to be read .+; nest less deeply/,
    );
  });
});
