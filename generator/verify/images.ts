import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { load } from 'js-yaml';
import { runScript } from '../tools/scripts.ts';
import { BUILDER_MANIFEST } from '../validate/collector.ts';

/**
 * Which images verify runs. `upstream`: the compose file's defaults (the pinned upstream images,
 * pulled when missing). `local`: images built here from the Go modules and the generated OCB
 * manifest (scripts/build-images.sh, cached by content), for machines no image registry answers.
 * `auto` takes upstream when every one is present or can be pulled, else local. Images named in
 * OTELKIT_<COMPONENT>_IMAGE always win.
 */

export type ImageMode = 'auto' | 'local' | 'upstream';
export const IMAGE_MODES: readonly ImageMode[] = ['auto', 'local', 'upstream'];

type Env = Readonly<Record<string, string | undefined>>;
const VARIABLE = /^\$\{(OTELKIT_[A-Z]+_IMAGE):-([^}]+)\}$/;

/** The `${OTELKIT_X_IMAGE:-default}` images of the services verify starts, as the compose file writes them. */
async function composeImages(outDir: string, services: readonly string[]): Promise<Map<string, string>> {
  const compose = load(await readFile(path.join(outDir, 'compose/docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string }>;
  };
  const images = new Map<string, string>();
  for (const name of Object.keys(compose.services)) {
    const match = VARIABLE.exec(compose.services[name]?.image ?? '');
    if (match && services.includes(name)) images.set(match[1]!, match[2]!);
  }
  return images;
}

async function present(image: string, env: Env) {
  return (await execa('docker', ['image', 'inspect', image], { reject: false, env })).exitCode === 0;
}

export async function chooseImages(
  mode: ImageMode,
  outDir: string,
  services: readonly string[],
  env: Env,
  progress: (line: string) => void,
): Promise<Record<string, string>> {
  const given = Object.fromEntries(
    Object.entries(env).filter(([key, value]) => /^OTELKIT_[A-Z]+_IMAGE$/.test(key) && value),
  );
  const wanted = [...(await composeImages(outDir, services))].filter(([variable]) => !(variable in given));
  if (wanted.length === 0) return given as Record<string, string>;
  if (mode !== 'local') {
    const unavailable: string[] = [];
    for (const [, image] of wanted) {
      if (await present(image, env)) continue;
      progress(`  pulling ${image}`);
      const pulled = await execa('docker', ['pull', '--quiet', image], {
        reject: false,
        env,
        timeout: 10 * 60_000,
      });
      if (pulled.exitCode !== 0) {
        unavailable.push(`${image} (${String(pulled.stderr).trim().split('\n').pop()})`);
        if (mode === 'auto') break;
      }
    }
    if (unavailable.length === 0) return given as Record<string, string>;
    if (mode === 'upstream') throw new Error(`upstream images cannot be had: ${unavailable.join('; ')}`);
    progress(`no image registry answers (${unavailable[0]}); using local images built here (cached)`);
  }
  const built = await runScript(env, progress, 'build-images.sh', [path.join(outDir, BUILDER_MANIFEST)]);
  if (built === undefined)
    throw new Error('building the local images failed (scripts/build-images.sh, output above)');
  const local = Object.fromEntries(
    built
      .split('\n')
      .map((line) => line.split('='))
      .filter(
        (pair): pair is [string, string] => pair.length === 2 && /^OTELKIT_[A-Z]+_IMAGE$/.test(pair[0]!),
      ),
  );
  return { ...local, ...given } as Record<string, string>;
}
