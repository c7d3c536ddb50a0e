import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../../support/helpers.ts';
import { appDirectory, testModel, writePreload } from '../../../support/preload-harness.ts';

/**
 * Every way an app ends, bare and under the preload, with the Collector down (nothing listening)
 * or hanging (accepting and never answering): the exit code or signal is the one bare Node gives,
 * the app's own handlers decide what they decided without the preload, and the preload's wait for
 * its telemetry stays within the flush bound (3 s by default).
 */

const FLUSH_BOUND_MS = 3000;
/** Start-up of a preloaded process and the signal's round trip, on a machine shared with others. */
const SLACK_MS = 1500;

const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/throw') throw new Error('sync boom in a plain handler');
  if (req.url === '/reject') Promise.reject(new Error('rejected in the background'));
  console.log('served ' + req.url);
  res.end('ok');
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

const APPS: Record<string, string> = {
  ownSigterm: `${SERVER}
process.on('SIGTERM', () => { console.log('closing'); server.close(); });`,
  noHandlers: SERVER,
  ownUncaught: `${SERVER}
process.on('uncaughtException', (error, origin) => console.log('handled ' + origin + ' ' + error.message));`,
  scriptEnds: `
const http = require('node:http');
const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', () => {
  http.get('http://127.0.0.1:' + server.address().port + '/once', (res) => {
    res.resume();
    res.on('end', () => { console.log('done'); server.close(); process.exitCode = 3; });
  });
});`,
};

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the trigger (the signal, the crashing request, or the start for a script) to the exit. */
  ms: number;
  stdout: string[];
  stderr: string[];
  /** Whether a request sent right after the trigger was served. */
  servedAfter?: boolean;
}

let dir: string;
let preload: string[];
let down: string;
let hanging: net.Server;
let hangingUrl: string;
const held = new Set<net.Socket>();

beforeAll(async () => {
  dir = await appDirectory('preload-exits', []);
  for (const [name, source] of Object.entries(APPS)) await writeFile(path.join(dir, `${name}.cjs`), source);
  preload = await writePreload(dir, testModel('commonjs'), 'commonjs');
  down = `http://127.0.0.1:${await freePort()}`;
  hanging = net.createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  hangingUrl = `http://127.0.0.1:${(hanging.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => hanging?.close(resolve));
});

const request = (port: number, pathName: string) =>
  fetch(`http://127.0.0.1:${port}${pathName}`, { signal: AbortSignal.timeout(2000) }).then(
    (response) => response.text().then(() => true),
    () => false,
  );

async function run(
  app: string,
  options: {
    preloaded: boolean;
    collector: string;
    trigger: 'SIGTERM' | 'throw' | 'reject' | 'none';
    env?: Record<string, string>;
  },
): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [...(options.preloaded ? preload : []), `${app}.cjs`], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      OTEL_EXPORTER_OTLP_ENDPOINT: options.collector,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  child.stderr.on('data', (chunk: Buffer) => stderr.push(...chunk.toString().split('\n').filter(Boolean)));
  const port = new Promise<number>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = chunk.toString().split('\n').filter(Boolean);
      stdout.push(...lines);
      for (const line of lines) {
        const match = /listening (\d+)/.exec(line);
        if (match) resolve(Number(match[1]));
      }
    });
  });
  if (options.trigger === 'none') {
    const exit = await exited;
    return { code: exit.code, signal: exit.signal, ms: exit.at - started, stdout, stderr };
  }
  const listening = await port;
  // telemetry to flush: a few requests and their log lines
  for (let i = 0; i < 12; i++) await request(listening, `/work/${i}`);
  const triggered = Date.now();
  let servedAfter: boolean | undefined;
  if (options.trigger === 'SIGTERM') child.kill('SIGTERM');
  else {
    await request(listening, `/${options.trigger}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    servedAfter = await request(listening, '/after');
    if (options.trigger === 'reject') child.kill('SIGTERM');
  }
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${app} did not exit in 20 s:\n${stderr.join('\n')}`));
      }, 20_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return { code: exit.code, signal: exit.signal, ms: exit.at - triggered, stdout, stderr, servedAfter };
}

const outcome = ({ code, signal, servedAfter }: Run) => ({ code, signal, servedAfter });

/** What the app printed, bare or as the preload's JSON lines. */
const printed = (lines: string[]) =>
  lines.map((line) => {
    try {
      return String((JSON.parse(line) as { message?: unknown }).message);
    } catch {
      return line;
    }
  });

describe.each([
  ['down', () => down],
  ['hanging', () => hangingUrl],
])('with the Collector %s', (_name, collector) => {
  it('an app with its own SIGTERM handler exits as it does bare, within the flush bound', async () => {
    const bare = await run('ownSigterm', { preloaded: false, collector: collector(), trigger: 'SIGTERM' });
    const preloaded = await run('ownSigterm', {
      preloaded: true,
      collector: collector(),
      trigger: 'SIGTERM',
    });
    expect(outcome(preloaded)).toEqual(outcome(bare));
    expect(printed(preloaded.stdout)).toContain('closing');
    expect(preloaded.ms).toBeLessThan(FLUSH_BOUND_MS + SLACK_MS);
  });

  it('an app without handlers dies by SIGTERM, within the flush bound', async () => {
    const bare = await run('noHandlers', { preloaded: false, collector: collector(), trigger: 'SIGTERM' });
    const preloaded = await run('noHandlers', {
      preloaded: true,
      collector: collector(),
      trigger: 'SIGTERM',
    });
    expect(outcome(preloaded)).toEqual({ code: null, signal: 'SIGTERM', servedAfter: undefined });
    expect(outcome(preloaded)).toEqual(outcome(bare));
    expect(preloaded.ms).toBeLessThan(FLUSH_BOUND_MS + SLACK_MS);
  });

  it('a script that just ends keeps its exit code and ends within the flush bound', async () => {
    const bare = await run('scriptEnds', { preloaded: false, collector: collector(), trigger: 'none' });
    const preloaded = await run('scriptEnds', { preloaded: true, collector: collector(), trigger: 'none' });
    expect(outcome(preloaded)).toEqual({ code: 3, signal: null, servedAfter: undefined });
    expect(outcome(preloaded)).toEqual(outcome(bare));
    expect(preloaded.ms).toBeLessThan(FLUSH_BOUND_MS + SLACK_MS + bare.ms);
  });

  it('a synchronous throw in a plain http handler ends the process as bare: exit 1, serving nothing more', async () => {
    const bare = await run('noHandlers', { preloaded: false, collector: collector(), trigger: 'throw' });
    const preloaded = await run('noHandlers', { preloaded: true, collector: collector(), trigger: 'throw' });
    expect(outcome(bare)).toEqual({ code: 1, signal: null, servedAfter: false });
    expect(outcome(preloaded)).toEqual(outcome(bare));
    expect(preloaded.ms).toBeLessThan(FLUSH_BOUND_MS + SLACK_MS);
    // the exception's record carries the request's ids, as every other log line of the request
    const record = preloaded.stderr
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .find((line) => line.logger === 'otelkit.exceptions');
    expect(record).toMatchObject({
      // the standard's level for a failure that ends the process, as the Python bootstrap logs it
      level: 'critical',
      message: 'uncaught exception: sync boom in a plain handler',
      request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      // where it was thrown (the anonymous request handler), not the preload's handler that logs it
      func_name: '<anonymous>',
      lineno: SERVER.split('\n').findIndex((line) => line.includes("throw new Error('sync boom")) + 1,
    });
  });

  it("an unhandled rejection goes to the app's own uncaughtException handler, as bare", async () => {
    const bare = await run('ownUncaught', { preloaded: false, collector: collector(), trigger: 'reject' });
    const preloaded = await run('ownUncaught', {
      preloaded: true,
      collector: collector(),
      trigger: 'reject',
    });
    expect(outcome(bare)).toEqual({ code: null, signal: 'SIGTERM', servedAfter: true });
    expect(outcome(preloaded)).toEqual(outcome(bare));
    expect(printed(preloaded.stdout)).toContain('handled unhandledRejection rejected in the background');
  });
});

describe('with the Collector hanging and exports piling up', () => {
  it('warns that the Collector does not answer, not that a concurrency limit was reached', async () => {
    // one span per export: the ninth export finds eight waiting
    const preloaded = await run('noHandlers', {
      preloaded: true,
      collector: hangingUrl,
      trigger: 'SIGTERM',
      env: { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1' },
    });
    const warning = preloaded.stderr.find((line) => line.startsWith('otelkit: cannot export traces'));
    expect(warning).toContain('it does not answer: 8 exports are already waiting for it');
  });
});
