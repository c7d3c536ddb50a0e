/**
 * Real PostgreSQL, MariaDB and Redis servers from Debian's packages, each started on a free loopback port
 * in a directory of its own and stopped by the test that started it. `.ci/run` installs them.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './helpers.ts';

export interface Server {
  port: number;
  stop(): Promise<void>;
}

const STARTUP_MS = 30_000;

function required(binary: string, install: string) {
  if (!existsSync(binary)) {
    throw new Error(`${binary} not found: install Debian's ${install} package (.ci/run does)`);
  }
  return binary;
}

/** Resolves once `ready` appears in the process's output; rejects with the output if it exits first. */
function waitForOutput(child: ChildProcess, ready: RegExp, name: string) {
  return new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in time:\n${output}`)),
      STARTUP_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready:\n${output}`));
    });
  });
}

function stopper(child: ChildProcess, signal: NodeJS.Signals, cleanup: () => Promise<void>) {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await cleanup();
  };
}

export async function startRedis(): Promise<Server> {
  const binary = required('/usr/bin/redis-server', 'redis-server');
  const port = await freePort();
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForOutput(child, /Ready to accept connections/, 'redis-server');
  return { port, stop: stopper(child, 'SIGTERM', async () => {}) };
}

async function postgresBin() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? (await readdir(root)).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0)
    throw new Error(`${root} is empty: install Debian's postgresql package (.ci/run does)`);
  return path.join(root, versions[0]!, 'bin');
}

/**
 * PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the `postgres` user
 * the Debian package creates, and the server is exec'd as that user (setpriv, no wrapper process,
 * so signals reach it directly). Trust authentication on loopback for the `otelkit` role.
 */
export async function startPostgres(): Promise<Server> {
  const bin = await postgresBin();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'otelkit-postgres-'));
  const asRoot = process.getuid?.() === 0;
  const asPostgres = (command: string, args: string[]) =>
    asRoot
      ? {
          command: 'setpriv',
          args: ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args],
        }
      : { command, args };
  if (asRoot) {
    const { uid, gid } = userIds('postgres');
    await chown(dir, uid, gid);
  }
  const initdb = asPostgres(path.join(bin, 'initdb'), [
    '-D',
    dir,
    '-A',
    'trust',
    '-U',
    'otelkit',
    '--no-sync',
    '--no-instructions',
  ]);
  execFileSync(initdb.command, initdb.args, { stdio: 'pipe' });
  const port = await freePort();
  const server = asPostgres(path.join(bin, 'postgres'), [
    '-D',
    dir,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-F',
  ]);
  const child = spawn(server.command, server.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, /database system is ready to accept connections/, 'postgres');
  return {
    port,
    // SIGINT: PostgreSQL's fast shutdown
    stop: stopper(child, 'SIGINT', () => rm(dir, { recursive: true, force: true })),
  };
}

/**
 * MariaDB (the MySQL protocol mysql2 speaks) with grant tables skipped: any user connects, which is
 * all a loopback test server needs. As root it runs with `--user=root`, which mariadbd requires.
 */
export async function startMariaDb(): Promise<Server> {
  const server = required('/usr/sbin/mariadbd', 'mariadb-server');
  const install = required('/usr/bin/mariadb-install-db', 'mariadb-server');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'otelkit-mariadb-'));
  const user = os.userInfo().username;
  execFileSync(
    install,
    [
      '--no-defaults',
      `--datadir=${dir}/data`,
      `--user=${user}`,
      '--skip-test-db',
      '--auth-root-authentication-method=normal',
    ],
    { stdio: 'pipe' },
  );
  const port = await freePort();
  const child = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${dir}/data`,
      `--socket=${dir}/mariadb.sock`,
      `--pid-file=${dir}/mariadb.pid`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--user=${user}`,
      '--skip-grant-tables',
      '--skip-log-bin',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForOutput(child, /ready for connections/, 'mariadbd');
  return { port, stop: stopper(child, 'SIGTERM', () => rm(dir, { recursive: true, force: true })) };
}

function userIds(name: string) {
  const id = (flag: string) => Number(execFileSync('id', [flag, name]).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}
