import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { shellVersionLines } from '../model/versions.ts';

/**
 * The build scripts that ship in the package (scripts/build-*.sh), run for `otelkit tools install`
 * and for verify's local images, with the pinned versions passed in.
 */

type Env = Readonly<Record<string, string | undefined>>;

/** The installed package's root (or the repository's): where scripts/ sits beside generator/ or dist/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'otelkit'
    )
      return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('internal: otelkit package root not found');
    dir = parent;
  }
}

/** Runs one build script, its progress (stderr) passed through line by line; resolves to its stdout. */
export async function runScript(
  env: Env,
  progress: (line: string) => void,
  script: string,
  args: string[],
): Promise<string | undefined> {
  const child = execa(path.join(packageRoot(), 'scripts', script), args, {
    env: { ...env, OTELKIT_VERSIONS: shellVersionLines() },
    extendEnv: false,
    reject: false,
    stderr: 'pipe',
  });
  let pending = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) progress(`  ${line}`);
  });
  const result = await child;
  if (pending) progress(`  ${pending}`);
  return result.exitCode === 0 ? String(result.stdout) : undefined;
}
