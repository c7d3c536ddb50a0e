#!/usr/bin/env node
// In a checkout the TypeScript sources run directly (Node strips types); an installed package
// runs the compiled dist/, since Node does not strip types inside node_modules.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../generator/cli/run.ts', import.meta.url));
const useSource = existsSync(source) && !source.includes('/node_modules/');
await import(useSource ? source : '../dist/generator/cli/run.js');
