/**
 * Bundles the preload runtime into dist/preload/: one ES module plus lazily loaded chunks (the
 * OTLP exporters). Loading ~300 small files of the OpenTelemetry packages one by one was most of the
 * preload's start-up time and a good part of its memory; a bundle loads in a fraction of that.
 * Instrumentation packages stay outside: they are required from the app's dependency tree, and only
 * when the app has the library they instrument.
 */
import { rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * Node built-ins reach the bundle through `require` and a view that inherits from the built-in, so
 * that only the exports actually used are ever read. An ES import of a built-in builds its ES module
 * facade by reading every export, and esbuild's CommonJS interop reads every export's property
 * descriptor; some exports are lazy and load more of Node when touched: in Node 24, node:http's
 * WebSocket getter loads undici (~760 KB of source, ~1.8 MiB of heap), util's descriptors load
 * streams, worker_threads and more. None of that is used here. The OTLP exporter's `import('http')`
 * for its agent did this at the first export, under load, enough for V8 to double the young
 * generation. The view has no own properties, so the interop, which copies own properties into
 * getters and keeps the prototype, makes no closure per export either (zlib alone has ~100 exports,
 * loaded at the first export, under load).
 */
const builtinsThroughRequire: Plugin = {
  name: 'builtins-through-require',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path) || (args.kind !== 'import-statement' && args.kind !== 'dynamic-import'))
        return undefined;
      const path = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      // esbuild gives a dynamic import of CommonJS only a default export, so those get an ES module
      return { path, namespace: args.kind === 'dynamic-import' ? 'builtin-module' : 'builtin-view' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin-view' }, (args) => ({
      contents: `module.exports = Object.create(require(${JSON.stringify(args.path)}));`,
      loader: 'js',
    }));
    // plain (data) exports by name; lazy (accessor) ones only through the default export
    build.onLoad({ filter: /.*/, namespace: 'builtin-module' }, async (args) => {
      const builtin = (await import(args.path)) as Record<string, unknown>;
      const names = Object.keys(builtin.default as object).filter((key) => {
        const descriptor = Object.getOwnPropertyDescriptor(builtin.default, key);
        return (
          descriptor !== undefined &&
          'value' in descriptor &&
          /^[A-Za-z_$][\w$]*$/.test(key) &&
          key !== 'default'
        );
      });
      return {
        contents: [
          `const builtin = require(${JSON.stringify(args.path)});`,
          'export default builtin;',
          ...names.map((key) => `export const ${key} = builtin.${key};`),
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(REPO, 'dist', 'preload');

await rm(OUT, { recursive: true, force: true });
await build({
  entryPoints: { index: path.join(REPO, 'runtime', 'node', 'index.ts') },
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
  // every module's setTimeout unreferences its timer (see the file): telemetry never holds the app
  inject: [path.join(REPO, 'runtime', 'node', 'timers.ts')],
  plugins: [builtinsThroughRequire],
});
await writeFile(path.join(OUT, 'package.json'), '{ "type": "module" }\n');
