import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { load } from 'js-yaml';
import { LOOPBACK, httpUrl } from '../model/topology.ts';

/**
 * Runs the generated compose file itself, so the file users run is the file tested. Debian's
 * docker-compose 1.29 works with Debian's engine for compose-spec files; `docker compose` (v2)
 * is used when present. Every port is published on 127.0.0.1 only.
 */

export const BACKEND_SERVICES = ['otel-collector', 'prometheus', 'alertmanager', 'loki', 'tempo'] as const;

/** The stack's ports as compose publishes them on the host. */
export const LOCAL = {
  otlpHttp: httpUrl('collector', { port: 'otlpHttp', host: LOOPBACK }),
  prometheus: httpUrl('prometheus', { host: LOOPBACK }),
  alertmanager: httpUrl('alertmanager', { host: LOOPBACK }),
  loki: httpUrl('loki', { host: LOOPBACK }),
  tempo: httpUrl('tempo', { host: LOOPBACK }),
  collectorHealth: httpUrl('collector', { port: 'health', host: LOOPBACK }),
} as const;

const READY: Record<string, string> = {
  'otel-collector': `${LOCAL.collectorHealth}/`,
  prometheus: `${LOCAL.prometheus}/-/ready`,
  alertmanager: `${LOCAL.alertmanager}/-/ready`,
  loki: `${LOCAL.loki}/ready`,
  tempo: `${LOCAL.tempo}/ready`,
};

export interface Stack {
  project: string;
  composeFile: string;
  env: Record<string, string | undefined>;
  compose(args: string[]): Promise<string>;
  waitReady(services?: readonly string[], timeoutMs?: number): Promise<void>;
  /** Until every container of the stack passes its own healthcheck; throws on one that cannot. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  down(): Promise<void>;
}

interface ContainerState {
  service: string;
  status: string;
  exitCode: number;
  health: string;
  restartPolicy: string;
  restarts: number;
}

async function containerStates(project: string): Promise<ContainerState[]> {
  const ids = (
    await execa('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (ids.length === 0) return [];
  const format =
    '{{index .Config.Labels "com.docker.compose.service"}}|{{.State.Status}}|{{.State.ExitCode}}|' +
    '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.HostConfig.RestartPolicy.Name}}|{{.RestartCount}}';
  const { stdout } = await execa('docker', ['inspect', '--format', format, ...ids]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [service, status, exitCode, health, restartPolicy, restarts] = line.split('|');
      return {
        service: service!,
        status: status!,
        exitCode: Number(exitCode),
        health: health!,
        restartPolicy: restartPolicy!,
        restarts: Number(restarts),
      };
    });
}

/**
 * What compose itself would call a good state: a one-shot service exited 0, every other container
 * running without restarts, and healthy where its image has a healthcheck. Ports answering from the
 * host is not enough: a healthcheck that cannot run in its image leaves a container unhealthy, and
 * compose then never starts what depends on it.
 */
function stateProblem(c: ContainerState): 'wait' | 'ok' | string {
  const oneShot = c.restartPolicy === 'no' || c.restartPolicy === '';
  if (oneShot && c.status === 'exited')
    return c.exitCode === 0 ? 'ok' : `${c.service} exited with ${c.exitCode}`;
  if (c.restarts > 0 || c.status === 'restarting') return `${c.service} restarted (${c.status})`;
  if (c.status === 'exited' || c.status === 'dead') return `${c.service} ${c.status} with ${c.exitCode}`;
  if (c.health === 'unhealthy') return `${c.service} is unhealthy`;
  if (c.status !== 'running' || c.health === 'starting') return 'wait';
  return 'ok';
}

async function composeCommand(): Promise<string[]> {
  const v2 = await execa('docker', ['compose', 'version'], { reject: false });
  if (v2.exitCode === 0) return ['docker', 'compose'];
  const v1 = await execa('docker-compose', ['version'], { reject: false });
  if (v1.exitCode === 0) return ['docker-compose'];
  throw new Error(
    'no compose implementation found: install docker-compose (Debian) or the docker compose plugin',
  );
}

export async function waitForUrl(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`${url} not ready after ${Math.round(timeoutMs / 1000)}s (${last})`);
}

interface PublishedPort {
  service: string;
  host: string;
  port: number;
}

/** The host ports the compose file publishes for `services` (short syntax `[ip:]host:container`). */
export async function publishedPorts(
  composeFile: string,
  services: readonly string[],
): Promise<PublishedPort[]> {
  const compose = load(await readFile(composeFile, 'utf8')) as {
    services: Record<string, { ports?: (string | { host_ip?: string; published?: number | string })[] }>;
  };
  const published: PublishedPort[] = [];
  for (const service of services) {
    for (const entry of compose.services[service]?.ports ?? []) {
      if (typeof entry === 'object') {
        if (entry.published !== undefined)
          published.push({ service, host: entry.host_ip ?? '0.0.0.0', port: Number(entry.published) });
        continue;
      }
      const parts = entry.split('/')[0]!.split(':');
      if (parts.length < 2) continue;
      const host = parts.length === 3 ? parts[0]! : '0.0.0.0';
      published.push({ service, host, port: Number(parts[parts.length - 2]) });
    }
  }
  return published;
}

const canBind = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });

/**
 * Fails before anything starts when a port the stack publishes is taken, naming what holds it:
 * compose would otherwise create half the stack and stop at "port is already allocated".
 */
async function assertPortsFree(composeFile: string, services: readonly string[]): Promise<void> {
  const taken: string[] = [];
  for (const { service, host, port } of await publishedPorts(composeFile, services)) {
    if (await canBind(host, port)) continue;
    const holders = await execa('docker', ['ps', '--filter', `publish=${port}`, '--format', '{{.Names}}'], {
      reject: false,
    });
    const containers = holders.exitCode === 0 ? holders.stdout.split('\n').filter(Boolean) : [];
    const by =
      containers.length > 0
        ? `by container ${containers.join(', ')} (stop it with docker rm -f ${containers.join(' ')}; ` +
          `an otelkit-verify-* one was left by an interrupted verify)`
        : `by a process on this machine (find it with ss -ltnp 'sport = :${port}' and stop it)`;
    taken.push(`${host}:${port} (${service}) is in use ${by}`);
  }
  if (taken.length > 0)
    throw new Error(`the stack cannot start, its ports are taken:\n  ${taken.join('\n  ')}`);
}

/** A fresh compose project name for one stack, so parallel or leftover stacks never share containers. */
export const newProject = () => `otelkit-verify-${randomBytes(3).toString('hex')}`;

/** compose commands in flight per project, so an interrupt can stop them before removing what they made. */
const inFlight = new Map<string, Set<Promise<unknown> & { kill(signal?: NodeJS.Signals): boolean }>>();

/** Stops the project's compose commands (an `up` would go on creating containers), then removes it. */
export async function abortProject(project: string): Promise<void> {
  const running = [...(inFlight.get(project) ?? [])];
  for (const child of running) child.kill('SIGTERM');
  await Promise.allSettled(running);
  // the engine finishes creates compose sent before it died: remove until none appear for a second
  for (let attempt = 0; attempt < 15; attempt++) {
    if (!(await removeProject(project))) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Removes a project's containers, networks and volumes, also when compose itself cannot. */
export async function removeProject(project: string): Promise<boolean> {
  const label = `label=com.docker.compose.project=${project}`;
  const ids = async (kind: 'ps' | 'network' | 'volume') =>
    (
      await execa(
        'docker',
        kind === 'ps' ? ['ps', '-aq', '--filter', label] : [kind, 'ls', '-q', '--filter', label],
        { reject: false },
      )
    ).stdout
      .split('\n')
      .filter(Boolean);
  const containers = await ids('ps');
  if (containers.length > 0) await execa('docker', ['rm', '-f', '-v', ...containers], { reject: false });
  const networks = await ids('network');
  if (networks.length > 0) await execa('docker', ['network', 'rm', ...networks], { reject: false });
  const volumes = await ids('volume');
  if (volumes.length > 0) await execa('docker', ['volume', 'rm', '-f', ...volumes], { reject: false });
  return containers.length + networks.length + volumes.length > 0;
}

/** Brings up the backends of the generated compose file in `outDir`; Grafana is left out (see README). */
export async function startStack(
  outDir: string,
  images: Record<string, string | undefined>,
  progress: (line: string) => void,
  services: readonly string[] = BACKEND_SERVICES,
  project: string = newProject(),
): Promise<Stack> {
  const command = await composeCommand();
  const composeFile = path.join(outDir, 'compose/docker-compose.yml');
  await assertPortsFree(composeFile, services);
  const env = { ...process.env, ...images };
  const compose = async (args: string[]) => {
    const child = execa(command[0]!, [...command.slice(1), '-f', composeFile, '-p', project, ...args], {
      env,
      reject: false,
      all: true,
    });
    const running = inFlight.get(project) ?? new Set();
    inFlight.set(project, running.add(child));
    const result = await child.finally(() => running.delete(child));
    if (result.exitCode !== 0)
      throw new Error(`compose ${args.join(' ')} failed:\n${result.all?.slice(-2000)}`);
    return result.all ?? '';
  };
  const stack: Stack = {
    project,
    composeFile,
    env,
    compose,
    async waitReady(which = services, timeoutMs = 180_000) {
      for (const service of which) {
        const url = READY[service];
        if (!url) continue;
        progress(`  waiting for ${service} (${url})`);
        await waitForUrl(url, timeoutMs);
      }
    },
    async waitHealthy(timeoutMs = 180_000) {
      progress('  waiting for every container to pass its healthcheck');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await containerStates(project);
        const verdicts = states.map((c) => ({ c, verdict: stateProblem(c) }));
        const bad = verdicts.filter((v) => v.verdict !== 'ok' && v.verdict !== 'wait');
        if (bad.length > 0) throw new Error(bad.map((v) => v.verdict).join('; '));
        const waiting = verdicts.filter((v) => v.verdict === 'wait').map((v) => v.c.service);
        if (states.length > 0 && waiting.length === 0) {
          const described = states
            .map(
              (c) =>
                `${c.service} ${c.status === 'exited' ? `exited ${c.exitCode}` : c.health === 'none' ? c.status : c.health}`,
            )
            .sort();
          progress(`  all good: ${described.join(', ')}`);
          return;
        }
        if (Date.now() > deadline)
          throw new Error(`not healthy after ${Math.round(timeoutMs / 1000)}s: ${waiting.join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    },
    async down() {
      progress(`tearing down ${project}`);
      await compose(['down', '-v', '--remove-orphans', '-t', '5']).catch(async (error: Error) => {
        progress(`  teardown: ${error.message.split('\n')[0]}; removing its containers directly`);
        await removeProject(project);
      });
    },
  };
  progress(
    `starting ${services.join(', ')} from ${path.relative(process.cwd(), composeFile)} (project ${project})`,
  );
  try {
    await compose(['up', '-d', '--no-build', ...services]);
    await stack.waitReady();
    await stack.waitHealthy();
  } catch (error) {
    const logs = await compose(['logs', '--no-color', '--tail', '30']).catch(() => '');
    await stack.down();
    throw new Error(`${(error as Error).message}\n${logs.slice(-4000)}`, { cause: error });
  }
  return stack;
}
