/**
 * Bundles the preload runtime into dist/preload/: one ES module plus lazily loaded chunks (the
 * OTLP exporters). Loading ~300 small files of the OpenTelemetry packages one by one was most of the
 * preload's start-up time and a good part of its memory; a bundle loads in a fraction of that.
 * Instrumentation packages stay outside: they are required from the app's dependency tree, and only
 * when the app has the library they instrument.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(REPO, 'dist', 'preload');

await rm(OUT, { recursive: true, force: true });
await build({
  entryPoints: { index: path.join(REPO, 'generator', 'runtime', 'preload', 'index.ts') },
  outdir: OUT,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minifySyntax: true,
  legalComments: 'linked',
  external: [
    '@opentelemetry/instrumentation',
    '@opentelemetry/instrumentation/*',
    '@opentelemetry/instrumentation-*',
  ],
  // CommonJS dependencies inside the bundle still call require() for Node built-ins
  banner: {
    js: "import { createRequire as __otelkitCreateRequire } from 'node:module';\nconst require = __otelkitCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await writeFile(path.join(OUT, 'package.json'), '{ "type": "module" }\n');
