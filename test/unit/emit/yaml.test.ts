import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { DUMP_OPTIONS, dumpAll } from '../../../generator/emit/yaml.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { REPO } from '../../support/helpers.ts';

/** dumpAll lays out YAML itself around js-yaml's scalars: it must give js-yaml's dump, byte for byte. */

const dumped = (documents: unknown[]) => documents.map((document) => dump(document, DUMP_OPTIONS));

/** Strings that make js-yaml quote, escape, or write a block: indicators, YAML 1.1 words, line breaks. */
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom(
    ...['', ' ', 'yes', 'No', 'on', 'null', '~', '-0', '0x1F', '0o7', '1e3', '1_000', '.inf', '.NaN'],
    ...['---', '...', '- a', 'a: b', '#c', 'a #b', '"q"', "'", '2024-01-01', '=', '<<', ' lead', 'trail '],
    ...[
      '\n',
      'a\nb',
      'a\n\nb\n',
      ' a\nb',
      'x\n ',
      'a\n\n',
      '\ta',
      'a\tb',
      '\u2028',
      '\u0007',
      'é',
      '!t',
      '&a',
    ],
    ...['*a', '%', '@', '`', '|', '>', '?', ':', ',', '[', '{}', 'k'.repeat(1030)],
  ),
  fc
    .array(fc.constantFrom('a', ' ', '\n', ':', '-', '#', "'", '"', '\t', 'é', '1', '.', '\\'), {
      maxLength: 10,
    })
    .map((chars) => chars.join('')),
);
const number = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e21, 1.5e-7, 2 ** 53, 0.1, 5e-324),
);
const leaf = fc.oneof(text, number, fc.boolean(), fc.constant(null), fc.constant(undefined));
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(text, tie('tree'), { maxKeys: 4 }),
  ),
}));
const document = fc.oneof(
  fc.array(tree, { maxLength: 5 }),
  fc.dictionary(text, tree, { maxKeys: 6 }),
  tree,
  fc.constantFrom(new Date(0), [new Date(0)], { at: new Set([1]) }, { b: Buffer.from('x') }),
);

describe('dumpAll', () => {
  it('writes what js-yaml dump writes, for any mix of documents', () => {
    fc.assert(
      fc.property(fc.array(document, { maxLength: 6 }), (documents) => {
        expect(dumpAll(documents)).toEqual(dumped(documents));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes what js-yaml dump writes for every YAML file of both examples', async () => {
    for (const example of ['shop', 'gateway']) {
      const { model } = await loadSpec(path.join(REPO, `examples/${example}/otelkit.yaml`));
      const documents = generateArtifacts(model)
        .filter((artifact) => artifact.format === 'yaml')
        .map((artifact) => artifact.content);
      expect(documents.length).toBeGreaterThan(20);
      expect(dumpAll(documents)).toEqual(dumped(documents));
    }
  });
});
