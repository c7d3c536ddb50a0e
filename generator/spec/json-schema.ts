import { z } from 'zod';
import { specSchema } from './schema.ts';

/** The JSON Schema of what users write (defaults optional), for editors and the README reference. */
export function jsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(specSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://otelkit.dev/schema/v1/otelkit.schema.json',
    title: 'otelkit spec',
  };
}
