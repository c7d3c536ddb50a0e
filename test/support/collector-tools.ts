import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { load, dump } from 'js-yaml';
import { REPO, tempDir } from './helpers.ts';

/** Test-side plumbing for real Collector builds; the product code never builds anything. */

export type Manifest = Record<string, unknown> & {
  dist: Record<string, unknown>;
  providers?: { gomod: string }[];
};

export const COMPONENT_KINDS = ['receivers', 'processors', 'connectors', 'exporters', 'extensions'] as const;

export function parseManifest(text: string): Manifest {
  return load(text) as Manifest;
}

export function gomods(manifest: Manifest): string[] {
  return COMPONENT_KINDS.flatMap((kind) =>
    ((manifest[kind] as { gomod: string }[] | undefined) ?? []).map((e) => e.gomod),
  );
}

export function withoutModules(manifest: Manifest, drop: readonly string[]): Manifest {
  const copy: Manifest = { ...manifest };
  for (const kind of COMPONENT_KINDS) {
    const entries = (manifest[kind] as { gomod: string }[] | undefined) ?? [];
    const kept = entries.filter((e) => !drop.includes(e.gomod));
    if (kept.length > 0) copy[kind] = kept;
    else delete copy[kind];
  }
  return copy;
}

/** Modules the Go module proxy will not serve (it answers 403 for some contrib modules here). */
export async function unavailableModules(manifest: Manifest): Promise<{ gomod: string; error: string }[]> {
  const missing: { gomod: string; error: string }[] = [];
  for (const gomod of gomods(manifest)) {
    const [module, version] = gomod.split(' ');
    const result = await execa('go', ['mod', 'download', '-json', `${module}@${version}`], { reject: false });
    const info = JSON.parse(result.stdout || '{}') as { Error?: string };
    if (info.Error) missing.push({ gomod, error: info.Error.split('\n').slice(-1)[0]!.trim() });
  }
  return missing;
}

/** Builds (or takes from the cache) a Collector for this manifest with scripts/build-collector.sh. */
export async function buildCollector(manifest: Manifest, label: string): Promise<string> {
  const dir = await tempDir(`ocb-${label}`);
  const file = path.join(dir, 'builder-config.yaml');
  await mkdir(dir, { recursive: true });
  await writeFile(file, dump(manifest, { noRefs: true, lineWidth: -1 }));
  const result = await execa(path.join(REPO, 'scripts/build-collector.sh'), [file], {
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0)
    throw new Error(`Collector build for ${label} failed:\n${result.all?.slice(-3000)}`);
  return result.stdout.trim().split('\n').slice(-1)[0]!;
}

export async function validateWith(binary: string, config: string) {
  const result = await execa(binary, ['validate', `--config=file:${config}`], { reject: false, all: true });
  return { exitCode: result.exitCode ?? -1, output: result.all ?? '' };
}
