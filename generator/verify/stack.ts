import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';

/**
 * Runs the generated compose file itself, so the file users run is the file tested. Debian's
 * docker-compose 1.29 works with Debian's engine for compose-spec files; `docker compose` (v2)
 * is used when present. Every port is published on 127.0.0.1 only.
 */

export const BACKEND_SERVICES = ['otel-collector', 'prometheus', 'alertmanager', 'loki', 'tempo'] as const;

export const LOCAL = {
  otlpHttp: 'http://127.0.0.1:4318',
  prometheus: 'http://127.0.0.1:9090',
  alertmanager: 'http://127.0.0.1:9093',
  loki: 'http://127.0.0.1:3100',
  tempo: 'http://127.0.0.1:3200',
  collectorHealth: 'http://127.0.0.1:13133',
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
  down(): Promise<void>;
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

/** Brings up the backends of the generated compose file in `outDir`; Grafana is left out (see README). */
export async function startStack(
  outDir: string,
  images: Record<string, string | undefined>,
  progress: (line: string) => void,
  services: readonly string[] = BACKEND_SERVICES,
): Promise<Stack> {
  const command = await composeCommand();
  const composeFile = path.join(outDir, 'compose/docker-compose.yml');
  const project = `otelkit-verify-${randomBytes(3).toString('hex')}`;
  const env = { ...process.env, ...images };
  const compose = async (args: string[]) => {
    const result = await execa(
      command[0]!,
      [...command.slice(1), '-f', composeFile, '-p', project, ...args],
      {
        env,
        reject: false,
        all: true,
      },
    );
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
    async down() {
      progress(`tearing down ${project}`);
      await compose(['down', '-v', '--remove-orphans', '-t', '5']).catch((error: Error) =>
        progress(`  teardown: ${error.message.split('\n')[0]}`),
      );
    },
  };
  progress(
    `starting ${services.join(', ')} from ${path.relative(process.cwd(), composeFile)} (project ${project})`,
  );
  try {
    await compose(['up', '-d', '--no-build', ...services]);
    await stack.waitReady();
  } catch (error) {
    const logs = await compose(['logs', '--no-color', '--tail', '30']).catch(() => '');
    await stack.down();
    throw new Error(`${(error as Error).message}\n${logs.slice(-4000)}`, { cause: error });
  }
  return stack;
}
