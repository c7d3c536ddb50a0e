import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Files of the otelkit package itself (a runtime's sources that outputs carry a copy of), read by
 * emit for the targets' `copy` artifacts. The package root is two folders above this module in
 * the sources (generator/emit/) and three in the compiled package (dist/generator/emit/).
 */
const ROOTS = [new URL('../../', import.meta.url), new URL('../../../', import.meta.url)];

const read = new Map<string, string>();

export function packageFile(source: string): string {
  let content = read.get(source);
  if (content !== undefined) return content;
  for (const root of ROOTS) {
    try {
      content = readFileSync(fileURLToPath(new URL(source, root)), 'utf8');
    } catch {
      continue;
    }
    read.set(source, content);
    return content;
  }
  throw new Error(`internal: ${source} is missing from the otelkit package`);
}
