import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { replaceReference } from '../../generator/spec/reference.ts';
import { REPO } from '../support/helpers.ts';

describe('README', () => {
  it('carries the spec reference generated from the current schema (npm run docs)', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    expect(readme).toBe(replaceReference(readme));
  });

  it('quick start is two commands: the bundled example, then the whole suite', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    const quickStart = readme
      .split('## Quick start')[1]!
      .split('```sh\n')[1]!
      .split('```')[0]!
      .trim()
      .split('\n');
    expect(quickStart).toEqual([
      'npm install && npx otelkit generate examples/shop/otelkit.yaml --out /tmp/shop',
      'npm test',
    ]);
    const ci = await readFile(path.join(REPO, '.ci/run'), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
  });
});
