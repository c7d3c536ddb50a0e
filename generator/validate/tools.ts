import { existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { toolVersion, type BackendTool } from '../model/versions.ts';
import { cacheDir } from './collector.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * A backend tool binary: OTELKIT_<TOOL> if set, else the one scripts/build-backends.sh cached for
 * the version it builds (versions.ts), else one on PATH. Undefined when none exists, which callers
 * report plainly.
 */
export async function findTool(tool: BackendTool, env: Env): Promise<string | undefined> {
  const override = env[`OTELKIT_${tool.toUpperCase()}`];
  if (override) return existsSync(override) ? override : undefined;
  const cached = path.join(cacheDir(env), 'bin', `${tool}-${toolVersion(tool)}`, tool);
  if (existsSync(cached)) return cached;
  const onPath = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
  return onPath.exitCode === 0 && onPath.stdout.trim() ? onPath.stdout.trim() : undefined;
}

export async function run(binary: string, args: string[], cwd: string) {
  const result = await execa(binary, args, { cwd, reject: false, all: true, timeout: 10 * 60_000 });
  return { ok: result.exitCode === 0, output: (result.all ?? '').trim() };
}
