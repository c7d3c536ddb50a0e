import { afterAll } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BUILTIN_BLOCKED_KEYS,
  BUILTIN_VALUE_PATTERNS,
  type Model,
} from '../../../../generator/model/model.ts';
import { pythonTarget } from '../../../../generator/targets/python.ts';
import { serviceEnv } from '../../../../generator/targets/service-env.ts';
import { render } from '../../../../generator/emit/emit.ts';
import { REPO, freePort, tempDir } from '../../../support/helpers.ts';
import { SECRET_CORPUS } from '../../../support/preload-corpus.ts';

export const SERVICE = 'orders-api';
export const FRONTENDS = ['web', 'ios'];

let venv: string | undefined;

/** The cached venv of test/e2e/runtime/python/requirements.txt (built by venv.sh on first use, seconds after). */
export function pythonVenv(): string {
  venv ??= execFileSync(path.join(REPO, 'test/e2e/runtime/python/venv.sh'), { encoding: 'utf8' }).trim();
  return venv;
}

export function pythonModel(): Model {
  return {
    project: 'shop',
    environment: 'test',
    services: [
      {
        name: SERVICE,
        runtime: 'python',
        team: 'orders',
        frontends: FRONTENDS,
        routes: [],
        dependencies: [{ name: 'payments', critical: true, bulkhead: { maxConcurrent: 2 } }],
      },
    ],
    redaction: {
      blockedKeys: [...BUILTIN_BLOCKED_KEYS],
      valuePatterns: Object.entries(BUILTIN_VALUE_PATTERNS).map(([name, regex]) => ({ name, regex })),
    },
    signals: { logs: { level: 'info' }, metrics: { scrapeIntervalMs: 15_000 } },
  } as unknown as Model;
}

/** Parses KEY=VALUE lines as `set -a; . file` would for the values the generator writes. */
export function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/**
 * An app directory as a user would have it: the generated preload/ (bootstrap, settings, env file,
 * exactly as `otelkit generate` writes them) beside the app.
 */
export async function appDirectory(
  app: 'fastapi_app.py' | 'flask_app.py' | 'crash_app.py' | 'pools_app.py',
  model = pythonModel(),
) {
  const dir = await tempDir(`python-${app.replace('.py', '')}`);
  const service = model.services[0]!;
  const files = render(pythonTarget.generate(model), 'otelkit.yaml');
  for (const [relative, content] of files) {
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await writeFile(path.join(dir, relative), content);
  }
  const envFile = Object.entries(serviceEnv(model, service))
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  await writeFile(path.join(dir, `preload/${service.name}.env`), `${envFile}\n`);
  await copyFile(path.join(REPO, 'test/e2e/runtime/python/apps', app), path.join(dir, app));
  return { dir, env: parseEnvFile(envFile) };
}

export interface PythonApp {
  child: ChildProcess;
  port: number;
  stdout: string[];
  stderr: string[];
  request(
    pathName: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: string }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `command` in the app directory with the env file's variables, as the README's command does. */
export async function runPython(
  dir: string,
  command: string[],
  env: Record<string, string>,
): Promise<PythonApp> {
  const bin = path.join(pythonVenv(), 'bin');
  const port = await freePort();
  const [executable, ...args] = command;
  const child = spawn(
    path.join(bin, executable!),
    args.map((a) => a.replace('$PORT', String(port))),
    {
      cwd: dir,
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        HOME: process.env.HOME,
        PORT: String(port),
        PYTHONUNBUFFERED: '1',
        SECRET_CORPUS_JSON: JSON.stringify(SECRET_CORPUS.map(({ text, data }) => ({ text, data }))),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (into: string[]) => {
    let buffer = '';
    return (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      into.push(...lines.filter(Boolean));
    };
  };
  child.stdout!.on('data', collect(stdout));
  child.stderr!.on('data', collect(stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const request = async (pathName: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`http://127.0.0.1:${port}${pathName}`, { headers });
    return { status: response.status, headers: response.headers, body: await response.text() };
  };
  // ready when it answers on a health route (untraced, so the probes leave no telemetry)
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`app exited (${child.exitCode}):\n${stderr.join('\n')}`);
    try {
      if ((await request('/healthz')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`app did not start:\n${stderr.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    child,
    port,
    stdout,
    stderr,
    request,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

/** Runs a script to its end with the env file's variables; its output and exit code. */
export function runScript(dir: string, command: string[], env: Record<string, string>) {
  const bin = path.join(pythonVenv(), 'bin');
  const [executable, ...args] = command;
  const child = spawn(path.join(bin, executable!), args, {
    cwd: dir,
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, PYTHONUNBUFFERED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** The app's JSON log lines, stdout and stderr both. */
export const jsonLines = (app: PythonApp) =>
  [...app.stdout, ...app.stderr]
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
