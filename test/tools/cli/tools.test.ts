import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

/** `otelkit tools list|install`, against the real cache and the real build scripts. */

const SPEC = 'examples/shop/otelkit.yaml';
/** PATH without the Go toolchain (and so without anything installed beside it). */
const withoutGo = (process.env.PATH ?? '')
  .split(':')
  .filter((dir) => !existsSync(path.join(dir, 'go')))
  .join(':');

describe('otelkit tools', () => {
  it('lists every tool as not installed in an empty cache', async () => {
    const cache = await tempDir('tools-cache');
    const result = await cli(['tools', 'list', SPEC], REPO, {
      ...process.env,
      OTELKIT_CACHE_DIR: cache,
      PATH: withoutGo,
    });
    expect(result.code).toBe(0);
    for (const tool of ['collector', 'promtool', 'amtool', 'prometheus', 'alertmanager', 'loki', 'tempo'])
      expect(result.stdout).toMatch(new RegExp(`^${tool} .* not installed$`, 'm'));
    expect(result.stderr).toContain('npx otelkit tools install');
  });

  it('installs a tool through the build script (cached: at once) and prints where it is', async () => {
    const result = await cli(['tools', 'install', SPEC, '--only', 'promtool']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining('installed: promtool'),
    });
    const where = /^promtool=(.+)$/m.exec(result.stdout)?.[1];
    expect(where && existsSync(where)).toBe(true);
    const listed = await cli(['tools', 'list', SPEC]);
    expect(listed.stdout).toMatch(
      new RegExp(`^promtool .* ${where!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
    );
  });

  it('says how to get Go when it is missing, and exits 1', async () => {
    const result = await cli(['tools', 'install', SPEC, '--only', 'promtool'], REPO, {
      ...process.env,
      PATH: withoutGo,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/a Go toolchain \(1\.24 or newer\) is needed .* install one/);
  });

  it('refuses an unknown tool, naming the ones it knows (exit 2)', async () => {
    const result = await cli(['tools', 'install', SPEC, '--only', 'promtool,grafana']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown tool grafana for --only; use some of collector, promtool');
  });
});
