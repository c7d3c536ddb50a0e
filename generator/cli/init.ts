import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderTemplate } from '../templates.ts';
import { UsageError, type Io } from './io.ts';

export async function runInit(io: Io, options: { ts: boolean; force: boolean }): Promise<number> {
  const fileName = options.ts ? 'otelkit.config.ts' : 'otelkit.yaml';
  const target = path.join(io.cwd, fileName);
  if (existsSync(target) && !options.force) {
    throw new UsageError(`${fileName} already exists; edit it, or pass --force to replace it`);
  }
  const project =
    path
      .basename(io.cwd)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^[^a-z]+|-+$/g, '')
      .slice(0, 63) || 'my-project';
  const content = renderTemplate(`init/${fileName}.hbs`, {
    project,
    team: 'platform',
    schemaUrl: './node_modules/otelkit/otelkit.schema.json',
  });
  const temp = `${target}.tmp-otelkit`;
  await writeFile(temp, content, 'utf8');
  await rename(temp, target);
  io.err(`wrote ${fileName}; edit it, then run "npx otelkit generate"`);
  return 0;
}
