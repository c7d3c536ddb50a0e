import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { PYTHON_BOOTSTRAP_FILES, PYTHON_RUNTIME_DIR } from '../../../generator/targets/python.ts';
import { REPO } from '../../support/helpers.ts';

describe('the python target', () => {
  it('copies every file of the bootstrap, and only those', async () => {
    const root = path.join(REPO, PYTHON_RUNTIME_DIR);
    const onDisk = (await readdir(root, { recursive: true, withFileTypes: true }))
      .filter(
        (entry) =>
          entry.isFile() && !entry.parentPath.includes('__pycache__') && !entry.name.endsWith('.pyc'),
      )
      .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
      .sort();
    expect([...PYTHON_BOOTSTRAP_FILES].sort()).toEqual(onDisk);
  });
});
