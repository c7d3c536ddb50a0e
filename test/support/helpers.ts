import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../generator/cli/main.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output, as a user would from `cwd`. */
export async function cli(args: string[], cwd = REPO, env: Record<string, string | undefined> = process.env) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    cwd,
    env,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') } satisfies CliResult;
}

export const tempDir = (prefix: string) => mkdtemp(path.join(os.tmpdir(), `otelkit-${prefix}-`));

/** A loopback port nothing listens on right now (for apps that must be told their port up front). */
export async function freePort() {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Route templates in both parameter styles, shared by the generator's and the runtime's route tests. */
export const ROUTE_TEMPLATES = [
  '/',
  '/products',
  '/products/{productId}',
  '/products/featured',
  '/orders/:orderId/items/{itemId}',
];
