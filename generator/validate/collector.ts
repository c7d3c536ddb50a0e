import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { ToolCheck, ToolCheckResult } from './index.ts';

export const COLLECTOR_CONFIGS = ['stacks/collector/config.yaml', 'stacks/collector/gateway.yaml'];
export const BUILDER_MANIFEST = 'stacks/collector/builder-config.yaml';

export function cacheDir(env: Readonly<Record<string, string | undefined>>): string {
  return env.OTELKIT_CACHE_DIR ?? path.join(env.HOME ?? os.homedir(), '.cache', 'otelkit');
}

/**
 * Cache key of a builder manifest: its content without comment lines, so the "generated from"
 * header (which names the spec relative to the output directory) does not change the key.
 * scripts/build-collector.sh computes the same key.
 */
export function manifestKey(manifest: string): string {
  const body = manifest
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  return createHash('sha256').update(body).digest('hex');
}

/** Where build-collector.sh caches the Collector it builds from this manifest text. */
export function cachedCollectorPath(manifest: string, env: Readonly<Record<string, string | undefined>>) {
  return path.join(cacheDir(env), 'collector', manifestKey(manifest), 'otelcol-otelkit');
}

/** The Collector binary for this manifest: OTELKIT_OTELCOL, or one built by build-collector.sh. */
export function findCollector(manifestPath: string, env: Readonly<Record<string, string | undefined>>) {
  if (env.OTELKIT_OTELCOL) return existsSync(env.OTELKIT_OTELCOL) ? env.OTELKIT_OTELCOL : undefined;
  const binary = cachedCollectorPath(readFileSync(manifestPath, 'utf8'), env);
  return existsSync(binary) ? binary : undefined;
}

export async function validateCollectorConfig(binary: string, config: string) {
  const result = await execa(binary, ['validate', `--config=file:${config}`], {
    reject: false,
    timeout: 60_000,
  });
  return { ok: result.exitCode === 0, output: `${result.stderr}\n${result.stdout}`.trim() };
}

export const collectorCheck: ToolCheck = {
  name: 'Collector config (otelcol validate)',
  async run({ dir, files, env }): Promise<ToolCheckResult> {
    const binary = findCollector(path.join(dir, BUILDER_MANIFEST), env);
    if (!binary) {
      return {
        status: 'unavailable',
        summary: `no Collector built from ${BUILDER_MANIFEST}; run "npx otelkit tools install --only collector" or set OTELKIT_OTELCOL to a Collector binary`,
      };
    }
    const configs = COLLECTOR_CONFIGS.filter((config) => files.includes(config));
    const details: string[] = [];
    for (const config of configs) {
      const { ok, output } = await validateCollectorConfig(binary, path.join(dir, config));
      if (!ok) details.push(`${config}: ${output.split('\n').slice(-3).join(' ')}`);
    }
    return details.length > 0
      ? { status: 'failed', summary: `the Collector rejected ${details.length} config(s)`, details }
      : { status: 'passed', summary: `${configs.join(', ')} accepted by ${path.basename(binary)}` };
  },
};
