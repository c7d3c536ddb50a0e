import net from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { loadSpec } from '../../../generator/spec/load.ts';
import { publishedPorts, startStack } from '../../../generator/verify/stack.ts';
import { lokiLines, newProbe, sendLog, sendRequest, traceInTempo } from '../../../generator/verify/verify.ts';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

/**
 * End to end on a real Docker engine: the generated compose file, with images built locally from
 * the pinned Go modules (scripts/build-images.sh; upstream images where a registry is reachable).
 * The local images run as the upstream ones do (non-root, no shell where upstream has none), so a
 * compose file that only works with root or a shell fails here as it would for a user.
 */
async function buildImages(manifest: string): Promise<Record<string, string>> {
  const result = await execa(path.join(REPO, 'scripts/build-images.sh'), [manifest], {
    cwd: REPO,
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) throw new Error(`building images failed:\n${result.all?.slice(-3000)}`);
  const images: Record<string, string> = {};
  for (const line of result.stdout.split('\n')) {
    const [key, value] = line.split('=');
    if (key && value) images[key] = value;
  }
  return images;
}

let images: Record<string, string> = {};

beforeAll(async () => {
  images = await buildImages('stacks/collector/builder-config.yaml');
}, 60 * 60_000);

function expectVerified(result: { code: number; stdout: string; stderr: string }) {
  const summary = result.stdout;
  // a failure says why in its first lines (a stack that could not start prints no summary)
  if (result.code !== 0 && summary === '') throw new Error(`verify failed:\n${result.stderr.slice(0, 3000)}`);
  expect(summary).toMatch(/trace stored in Tempo with its spans\s+ok/);
  expect(summary).toMatch(/logs in Loki with trace_id and request_id\s+ok/);
  expect(summary).toMatch(/RED metrics in Prometheus with service and route labels\s+ok/);
  expect(summary).toMatch(/every recording and alerting rule loaded and evaluating without error\s+ok/);
  expect(summary).toMatch(/every dashboard query runs; RED and SLO panels return data\s+ok/);
  expect(summary).toMatch(/Alertmanager runs the generated config\s+ok/);
  // the stack came up with every container passing its own healthcheck
  expect(result.stderr).toMatch(/waiting for every container to pass its healthcheck/);
  expect({ code: result.code, stderr: result.stderr.slice(-2000) }).toEqual({
    code: 0,
    stderr: expect.any(String),
  });
}

const verifyContainers = async () =>
  (await execa('docker', ['ps', '-aq', '--filter', 'name=otelkit-verify-'])).stdout.trim();

describe('verify cleans up after itself', () => {
  it('refuses an unknown --images mode (exit 2)', async () => {
    const result = await cli(['verify', '--images', 'nearby']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--images must be one of auto, local, upstream, got "nearby"');
  });

  it('refuses to start when a port the stack publishes is taken, naming it, and creates nothing', async () => {
    const out = await tempDir('ports');
    expect((await cli(['generate', 'examples/shop/otelkit.yaml', '--out', out])).code).toBe(0);
    const ports = await publishedPorts(path.join(out, 'compose/docker-compose.yml'), ['tempo']);
    expect(ports.length).toBeGreaterThan(0);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(ports[0]!.port, ports[0]!.host, resolve));
    try {
      const result = await cli(['verify'], REPO, { ...process.env, ...images });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `${ports[0]!.host}:${ports[0]!.port} (tempo) is in use by a process on this machine`,
      );
      expect(await verifyContainers()).toBe('');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it(
    'removes the half-started stack when interrupted (Ctrl-C) and dies of the signal',
    async () => {
      const child = execa(process.execPath, [path.join(REPO, 'bin/otelkit.js'), 'verify'], {
        cwd: REPO,
        env: { ...process.env, ...images },
        reject: false,
        all: true,
      });
      // interrupt once compose has created containers, in the middle of bringing the stack up
      const deadline = Date.now() + 120_000;
      while ((await verifyContainers()) === '' && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 250));
      expect(await verifyContainers()).not.toBe('');
      child.kill('SIGINT');
      const result = await child;
      expect({
        signal: result.signal,
        removed: /verify: SIGINT, removing otelkit-verify-/.test(result.all ?? ''),
      }).toEqual({
        signal: 'SIGINT',
        removed: true,
      });
      expect(await verifyContainers()).toBe('');
    },
    5 * 60_000,
  );
});

describe('otelkit verify', () => {
  // the bundled example's own verify runs as a new user runs it, from the installed package with
  // no otelkit cache: test/e2e/package/install.test.ts
  it(
    'brings the gateway example up: agent, three gateways and the backends, all healthy',
    async () => {
      // the gateway example's Collector has components the bundled example's has not
      const out = await tempDir('gateway-images');
      const generated = await cli(['generate', 'examples/gateway/otelkit.yaml', '--out', out]);
      expect(generated.code).toBe(0);
      const gatewayImages = await buildImages(path.join(out, 'stacks/collector/builder-config.yaml'));
      const result = await cli(['verify', 'examples/gateway/otelkit.yaml'], REPO, {
        ...process.env,
        ...gatewayImages,
      });
      expectVerified(result);
      expect(result.stderr).toMatch(/all good: .*otel-collector-gateway-3 running/);
    },
    60 * 60_000,
  );
});

describe('zero loss', () => {
  it(
    'keeps every span and log record through a 30 s Loki+Tempo outage and a Collector restart',
    async () => {
      const { model } = await loadSpec(path.join(REPO, 'examples/shop/otelkit.yaml'));
      const lines: string[] = [];
      const stack = await startStack(REPO, images, (line) => lines.push(line));
      try {
        const probe = newProbe(model);
        const count = 40;
        await stack.compose(['stop', '-t', '5', 'loki', 'tempo']);
        const traceIds: string[] = [];
        const outageStart = Date.now();
        for (let i = 0; i < count; i++) {
          // errors are always kept by tail sampling, so every one of them must arrive
          traceIds.push(await sendRequest(model, probe, { error: true }));
          await sendLog(model, probe, `zero-loss ${probe.requestId} #${i}`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const remaining = 30_000 - (Date.now() - outageStart);
        if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining));
        await stack.compose(['restart', '-t', '10', 'otel-collector']);
        await stack.compose(['start', 'loki', 'tempo']);
        await stack.waitReady(['loki', 'tempo', 'otel-collector']);

        const deadline = Date.now() + 240_000;
        let logs = 0;
        let traces = 0;
        while (Date.now() < deadline) {
          logs = (
            await lokiLines(
              `{service_name="${probe.service.name}"} |= "zero-loss ${probe.requestId}"`,
              probe.startedAt,
            ).catch(() => [])
          ).length;
          traces = 0;
          for (const id of traceIds) if (await traceInTempo(id).catch(() => undefined)) traces++;
          if (logs >= count && traces >= count) break;
          await new Promise((resolve) => setTimeout(resolve, 5000));
        }
        console.log(
          `zero-loss: sent ${count} error traces and ${count} log records during the outage; Tempo has ${traces}, Loki has ${logs}`,
        );
        expect({ logs, traces }).toEqual({ logs: count, traces: count });
      } finally {
        await stack.down();
      }
    },
    15 * 60_000,
  );
});
