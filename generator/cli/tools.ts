import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { render } from '../emit/emit.ts';
import type { LoadedSpec } from '../spec/load.ts';
import { generateArtifacts } from '../targets/index.ts';
import { BUILDER_MANIFEST, cachedCollectorPath } from '../validate/collector.ts';
import { findTool } from '../validate/tools.ts';
import { BACKEND_TOOLS, PINNED, toolVersion, type BackendTool } from '../model/versions.ts';
import { runScript } from '../tools/scripts.ts';
import { UsageError, type Io } from './io.ts';

/**
 * `otelkit tools list|install`: the real tools `validate` and `verify` run, built here from their
 * Go modules (no image registry needed) and cached by version, and by manifest for the Collector.
 * The build scripts ship in the package; this command gives them the versions and the generated
 * OCB manifest, streams their progress, and says what is missing when Go or Docker is.
 */

export const TOOLS_USAGE = `  tools list [spec]                     which tools validate and verify use, and where they are
  tools install [spec] [--only a,b]     build the Collector (from the spec's OCB manifest), promtool, amtool,
                                        prometheus, alertmanager, loki, tempo and, with Docker, local images`;

const BACKENDS = Object.keys(BACKEND_TOOLS) as BackendTool[];
export const TOOL_NAMES = ['collector', ...BACKENDS, 'images'] as const;
type ToolName = (typeof TOOL_NAMES)[number];

function manifestOf(loaded: LoadedSpec): string {
  const manifest = render(generateArtifacts(loaded.model), loaded.file).get(BUILDER_MANIFEST);
  if (!manifest) throw new Error(`internal: no ${BUILDER_MANIFEST} generated`);
  return manifest;
}

async function dockerAnswers(env: Io['env']): Promise<boolean> {
  return (await execa('docker', ['info'], { reject: false, env, extendEnv: false })).exitCode === 0;
}

interface ToolState {
  name: ToolName;
  version: string;
  where?: string;
}

async function states(loaded: LoadedSpec, env: Io['env']): Promise<ToolState[]> {
  const collector = cachedCollectorPath(manifestOf(loaded), env);
  const list: ToolState[] = [
    {
      name: 'collector',
      version: PINNED.collector,
      where: env.OTELKIT_OTELCOL ?? (existsSync(collector) ? collector : undefined),
    },
  ];
  for (const tool of BACKENDS)
    list.push({ name: tool, version: toolVersion(tool), where: await findTool(tool, env) });
  list.push({
    name: 'images',
    version: 'local',
    where: (await dockerAnswers(env)) ? 'built on demand (Docker engine answers)' : undefined,
  });
  return list;
}

function selected(only: string | undefined, docker: boolean): ToolName[] {
  if (only === undefined) return TOOL_NAMES.filter((name) => name !== 'images' || docker);
  const names = only
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(TOOL_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown tool ${unknown.join(', ')} for --only; use some of ${TOOL_NAMES.join(', ')}`,
    );
  return names as ToolName[];
}

export async function runTools(io: Io, args: string[], load: (spec?: string) => Promise<LoadedSpec>) {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { only: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/, ''));
  }
  if (parsed.positionals.length > 1) throw new UsageError('tools takes at most one spec');
  if (sub !== 'list' && sub !== 'install') throw new UsageError('tools needs "list" or "install"');
  const loaded = await load(parsed.positionals[0]);

  if (sub === 'list') {
    for (const state of await states(loaded, io.env))
      io.out(`${state.name.padEnd(13)} ${state.version.padEnd(26)} ${state.where ?? 'not installed'}`);
    io.err('install what is missing with "npx otelkit tools install"');
    return 0;
  }

  const docker = await dockerAnswers(io.env);
  const wanted = selected(parsed.values.only, docker);
  const go = await execa('go', ['version'], { reject: false, env: io.env, extendEnv: false });
  if (go.exitCode !== 0 && wanted.some((name) => name !== 'images')) {
    io.err(
      'otelkit: a Go toolchain (1.24 or newer) is needed to build the Collector and the backends from their Go ' +
        'modules; install one (Debian: apt-get install golang-go) and put it on PATH, then run this again',
    );
    return 1;
  }
  if (wanted.includes('images') && !docker) {
    io.err(
      'otelkit: no Docker engine answers, so no local images can be built; start one (Debian: apt-get install ' +
        'docker.io, then dockerd) or leave images out with --only',
    );
    return 1;
  }
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-tools-'));
  const failed: string[] = [];
  try {
    const manifest = path.join(scratch, BUILDER_MANIFEST);
    await mkdir(path.dirname(manifest), { recursive: true });
    await writeFile(manifest, manifestOf(loaded));
    if (wanted.includes('collector')) {
      io.err('building the Collector from the generated OCB manifest (cold: 10-20 min on 2 cores)');
      const out = await runScript(io.env, (line) => io.err(line), 'build-collector.sh', [manifest]);
      if (out) io.out(`collector=${out.trim().split('\n').pop()}`);
      else failed.push('collector');
    }
    const backends = wanted.filter((name): name is BackendTool => (BACKENDS as string[]).includes(name));
    if (backends.length > 0) {
      io.err(`building ${backends.join(', ')} from their Go modules (cached by version)`);
      const out = await runScript(io.env, (line) => io.err(line), 'build-backends.sh', backends);
      if (out) for (const line of out.trim().split('\n')) io.out(line);
      else failed.push(...backends);
    }
    if (wanted.includes('images')) {
      io.err('building local images of the stack (cached by content)');
      const out = await runScript(io.env, (line) => io.err(line), 'build-images.sh', [manifest]);
      if (out) for (const line of out.trim().split('\n')) io.out(line);
      else failed.push('images');
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  if (failed.length > 0) {
    io.err(`otelkit: building ${failed.join(', ')} failed (its output is above)`);
    return 1;
  }
  io.err(`installed: ${wanted.join(', ')}`);
  return 0;
}
