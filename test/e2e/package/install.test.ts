import { spawn } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { REPO, freePort, tempDir } from '../../support/helpers.ts';

/**
 * The package as users get it: packed, installed into an empty project from the tarball, its
 * bin run there as a new user on a machine with Go and Docker but no otelkit cache (a HOME of its
 * own, no OTELKIT_* variable; Go's module and build caches are the machine's, as they would be),
 * and the preload it generates instrumenting a plain app from that install. The tarball holds
 * dist/ as built (npm ci's prepare builds it; after editing, npm run build first).
 */

/** A new user's environment: an empty HOME, Go's caches and settings kept, nothing of otelkit's. */
async function newUserEnv(home: string): Promise<Record<string, string>> {
  const go = JSON.parse(
    (await execa('go', ['env', '-json', 'GOPATH', 'GOCACHE', 'GOMODCACHE', 'GOENV'])).stdout,
  ) as Record<string, string>;
  const npmCache = (await execa('npm', ['config', 'get', 'cache'])).stdout.trim();
  const kept = Object.entries(process.env).filter(
    (entry): entry is [string, string] => !entry[0].startsWith('OTELKIT_') && entry[1] !== undefined,
  );
  return { ...Object.fromEntries(kept), ...go, HOME: home, npm_config_cache: npmCache };
}

const MAX_INSTALL_MB = 60;

async function sizeOf(dir: string): Promise<number> {
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
  return bytes;
}

describe('the installed package', () => {
  it(
    `installs in at most ${MAX_INSTALL_MB} MB; with no otelkit cache, init, generate, tools install, validate (every check run) and verify pass; its preload instruments an app`,
    async () => {
      const work = await tempDir('package');
      const packed = await execa(
        'npm',
        ['pack', '--ignore-scripts', '--pack-destination', work, '--silent'],
        {
          cwd: REPO,
        },
      );
      const tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
      const app = path.join(work, 'app');
      const home = path.join(work, 'home');
      await mkdir(app);
      await mkdir(home);
      const env = await newUserEnv(home);
      await writeFile(path.join(app, 'package.json'), '{ "name": "app", "private": true }\n');
      await execa('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], {
        cwd: app,
        env,
      });
      const megabytes = (await sizeOf(path.join(app, 'node_modules'))) / 2 ** 20;
      console.log(`installed package: ${megabytes.toFixed(1)} MB of node_modules`);
      expect(megabytes).toBeLessThanOrEqual(MAX_INSTALL_MB);

      const otelkit = (args: string[]) =>
        execa(process.execPath, [path.join(app, 'node_modules/otelkit/bin/otelkit.js'), ...args], {
          cwd: app,
          env,
          extendEnv: false,
          reject: false,
          all: true,
        });
      const step = async (args: string[]) => {
        const started = Date.now();
        const result = await otelkit(args);
        console.log(
          `otelkit ${args.join(' ')}: exit ${result.exitCode} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
        );
        if (result.exitCode !== 0)
          throw new Error(`otelkit ${args.join(' ')} failed:\n${result.all?.slice(-4000)}`);
        return result;
      };
      await step(['init']);
      expect((await step(['generate'])).stderr).toMatch(/written/);

      // nothing cached: every tool validate and verify run is built here, from the package's own scripts
      expect((await step(['tools', 'list'])).stdout).toMatch(/not installed/);
      const tools = await step(['tools', 'install']);
      expect(tools.stdout).toMatch(/^promtool=\//m);
      const validated = await step(['validate']);
      expect(validated.stderr).not.toMatch(/^\s*skipped:/m);
      expect(validated.stderr).toMatch(/ 0 failed, 0 not run/);

      const verified = await step(['verify']);
      expect(verified.stderr).toMatch(/verify passed: \d+ checks/);
      // no registry answers here, so the local images; where one does, the upstream ones are pulled
      expect(verified.stderr).toMatch(/using local images built here \(cached\)|^ {2}pulling /m);
      expect((await execa('docker', ['ps', '-q', '--filter', 'name=otelkit-verify-'])).stdout.trim()).toBe(
        '',
      );

      // a plain app under the generated preload, exporting to a receiver in this test
      const received = new Map<string, number>();
      const receiver = http.createServer((req, res) => {
        req.resume().on('end', () => {
          received.set(req.url!, (received.get(req.url!) ?? 0) + 1);
          res.end();
        });
      });
      const receiverPort = await freePort();
      await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
      await writeFile(
        path.join(app, 'app.mjs'),
        "import http from 'node:http';\n" +
          "http.createServer((req, res) => { console.log('served', req.url); res.end('ok'); })\n" +
          "  .listen(Number(process.env.PORT), '127.0.0.1');\n",
      );
      const appPort = await freePort();
      const child = spawn(process.execPath, ['app.mjs'], {
        cwd: app,
        env: {
          ...process.env,
          PORT: String(appPort),
          NODE_OPTIONS: '--import ./preload/api.mjs',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
          OTEL_BSP_SCHEDULE_DELAY: '200',
          OTEL_BLRP_SCHEDULE_DELAY: '200',
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
        },
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      try {
        const deadline = Date.now() + 20_000;
        let answered = false;
        while (!answered && Date.now() < deadline) {
          answered = await fetch(`http://127.0.0.1:${appPort}/orders/1`).then(
            (r) => r.ok,
            () => false,
          );
          if (!answered) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(answered).toBe(true);
        while (
          Date.now() < deadline &&
          !['/v1/traces', '/v1/metrics', '/v1/logs'].every((p) => received.has(p))
        )
          await new Promise((resolve) => setTimeout(resolve, 200));
        expect([...received.keys()].sort()).toEqual(['/v1/logs', '/v1/metrics', '/v1/traces']);
        const line = JSON.parse(stdout.split('\n').find((l) => l.includes('served /orders/1'))!) as Record<
          string,
          unknown
        >;
        expect(line).toMatchObject({
          service: 'api',
          level: 'info',
          trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
        });
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => receiver.close(resolve));
      }
    },
    60 * 60_000,
  );
});
