import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import {
  BACKEND_BUILDS,
  COLLECTOR_PROVIDER_VERSION,
  LOCAL_CLUSTER,
  PINNED,
  TELEMETRYGEN,
} from '../../../generator/model/versions.ts';
import { REPO } from '../../support/helpers.ts';

/**
 * Versions have one home, generator/model/versions.ts: the generator, the scripts, the benchmarks and
 * the tests read it, and a version typed anywhere else fails here.
 */

const HOME = 'generator/model/versions.ts';
/** Where code lives; generated output, fixtures and test data describe versions, they do not pin them. */
const CODE = ['generator', 'scripts', 'bench', 'test', '.ci'];
const NOT_CODE =
  /(^|\/)(golden|fixtures|testdata|\.tmp|node_modules|python\/otelkit_bootstrap-[^/]*\.dist-info)\//;
const CODE_FILE = /\.(ts|sh|py)$|^\.ci\/run$/;

const pinned = [
  ...Object.values(PINNED),
  ...Object.values(COLLECTOR_PROVIDER_VERSION),
  ...Object.values(BACKEND_BUILDS).flatMap((build) => [build.moduleVersion, build.version]),
  ...Object.values(LOCAL_CLUSTER),
  TELEMETRYGEN.version,
];

async function codeFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of CODE) {
    const entries = await readdir(path.join(REPO, dir), { withFileTypes: true, recursive: true });
    for (const entry of entries) {
      const relative = path.relative(REPO, path.join(entry.parentPath, entry.name));
      if (entry.isFile() && CODE_FILE.test(relative) && !NOT_CODE.test(relative) && relative !== HOME)
        files.push(relative);
    }
  }
  return files;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('versions', () => {
  it(`are typed only in ${HOME}`, async () => {
    const files = await codeFiles();
    expect(files.length).toBeGreaterThan(50);
    // a version as a whole token: 1.2.3 but not 11.2.3 or 1.2.34
    const typed = new RegExp(`(?<![\\w.])v?(${pinned.map(escape).join('|')})(?![\\w.])`, 'g');
    const found: string[] = [];
    for (const file of files) {
      const text = await readFile(path.join(REPO, file), 'utf8');
      for (const [line, content] of text.split('\n').entries())
        for (const match of content.matchAll(typed)) found.push(`${file}:${line + 1}: ${match[0]}`);
    }
    expect(found).toEqual([]);
  });

  it('reach the build scripts through scripts/versions.ts', async () => {
    const result = await execa(process.execPath, [path.join(REPO, 'scripts/versions.ts')]);
    for (const [component, build] of Object.entries(BACKEND_BUILDS)) {
      const name = component.toUpperCase();
      expect(result.stdout).toContain(`${name}_VERSION='${build.version}'`);
      expect(result.stdout).toContain(`${name}_MODULE_VERSION='${build.moduleVersion}'`);
    }
  });
});
