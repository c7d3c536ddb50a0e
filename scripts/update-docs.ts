// Regenerates the README's spec reference and the committed JSON Schema from the zod schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { jsonSchema } from '../generator/spec/json-schema.ts';
import { replaceReference } from '../generator/spec/reference.ts';

writeFileSync('README.md', replaceReference(readFileSync('README.md', 'utf8')));
writeFileSync('otelkit.schema.json', `${JSON.stringify(jsonSchema(), null, 2)}\n`);
