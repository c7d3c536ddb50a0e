/** Models of the bundled examples with a few spec values changed, as a user would change them. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dump, load } from 'js-yaml';
import { loadSpec } from '../../generator/spec/load.ts';
import { builderManifest } from '../../generator/targets/collector-build.ts';
import type { Model } from '../../generator/model/model.ts';
import { buildCollector, parseManifest } from './collector-tools.ts';
import { REPO, tempDir } from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export async function exampleModel(example: 'shop' | 'gateway', edit: (spec: Json) => void = () => {}) {
  const spec = load(await readFile(path.join(REPO, 'examples', example, 'otelkit.yaml'), 'utf8')) as Json;
  edit(spec);
  const file = path.join(await tempDir(`spec-${example}`), 'otelkit.yaml');
  await writeFile(file, dump(spec, { noRefs: true, lineWidth: -1 }));
  return (await loadSpec(file)).model;
}

/** The Collector built (or taken from the cache) from the OCB manifest the generator writes for this model. */
export async function collectorFor(model: Model, label: string) {
  return buildCollector(parseManifest(dump(builderManifest(model), { noRefs: true, lineWidth: -1 })), label);
}
