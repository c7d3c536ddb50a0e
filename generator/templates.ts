import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

const root = fileURLToPath(new URL('../templates/', import.meta.url));
const fallbackRoot = fileURLToPath(new URL('../../templates/', import.meta.url));
const cache = new Map<string, HandlebarsTemplateDelegate>();

/** Renders templates/<name>; works from the sources and from the compiled dist/ alike. */
export function renderTemplate(name: string, context: object): string {
  let template = cache.get(name);
  if (!template) {
    let text: string;
    try {
      text = readFileSync(root + name, 'utf8');
    } catch {
      text = readFileSync(fallbackRoot + name, 'utf8');
    }
    template = Handlebars.compile(text, { noEscape: true, strict: true });
    cache.set(name, template);
  }
  return template(context);
}
