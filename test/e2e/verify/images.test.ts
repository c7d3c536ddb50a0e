import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { loadSpec } from '../../../generator/spec/load.ts';
import { COLLECTOR_USER, composeFile } from '../../../generator/targets/compose.ts';
import { REPO } from '../../support/helpers.ts';

/**
 * The local images stand in for the upstream ones in every end-to-end test, so they must fail
 * where the upstream ones fail: these are the upstream images' facts at the pinned versions, read
 * from their Dockerfiles (otelcol-contrib: FROM scratch, 10001:10001; prom/prometheus and
 * prom/alertmanager: busybox, nobody; grafana/loki 3.7: distroless static:nonroot, 10001;
 * grafana/tempo 2.8: distroless static:debug, busybox under /busybox only, 10001:10001).
 */

interface Entry {
  mode: string;
  uid: number;
  gid: number;
}

interface ImageFacts {
  user: string;
  entrypoint: string[];
  cmd: string[] | null;
  workdir: string;
  path: string[];
  files: Map<string, Entry>;
  /** The user's uid and gid, resolved through the image's own /etc/passwd where it is a name. */
  uid: number;
  gid: number;
}

const images: Record<string, string> = {};
const facts: Record<string, ImageFacts> = {};
const created: string[] = [];

async function inspect(image: string): Promise<ImageFacts> {
  const config = JSON.parse(
    (await execa('docker', ['image', 'inspect', '--format', '{{json .Config}}', image])).stdout,
  ) as { User: string; Entrypoint: string[]; Cmd: string[] | null; WorkingDir: string; Env: string[] | null };
  // an image without a shell cannot list itself; its exported file system can be
  const id = (await execa('docker', ['create', image])).stdout.trim();
  created.push(id);
  const listing = await execa('sh', ['-c', `docker export ${id} | tar -tv --numeric-owner -f -`]);
  const files = new Map<string, Entry>();
  for (const line of listing.stdout.split('\n')) {
    const match = /^(\S+)\s+(\d+)\/(\d+)\s+\d+\s+\S+\s+\S+\s+(.+?)(?: -> .*)?$/.exec(line);
    if (match) {
      files.set(`/${match[4]!.replace(/\/$/, '')}`, {
        mode: match[1]!,
        uid: Number(match[2]),
        gid: Number(match[3]),
      });
    }
  }
  const [name, group] = config.User.split(':');
  let uid = Number(name);
  let gid = Number(group ?? name);
  if (Number.isNaN(uid)) {
    const passwd = (await execa('sh', ['-c', `docker cp ${id}:/etc/passwd - | tar -xO -f -`])).stdout;
    const row = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
    if (!row) throw new Error(`${image}: user ${name} is not in /etc/passwd`);
    [uid, gid] = row.split(':').slice(2, 4).map(Number) as [number, number];
  }
  return {
    user: config.User,
    entrypoint: config.Entrypoint,
    cmd: config.Cmd,
    workdir: config.WorkingDir,
    // without PATH in the image, Docker runs a container with its default one
    path: (
      (config.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ??
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    ).split(':'),
    files,
    uid,
    gid,
  };
}

beforeAll(async () => {
  const result = await execa(
    path.join(REPO, 'scripts/build-images.sh'),
    ['stacks/collector/builder-config.yaml'],
    { cwd: REPO, reject: false, all: true },
  );
  if (result.exitCode !== 0) throw new Error(`building images failed:\n${result.all?.slice(-3000)}`);
  for (const line of result.stdout.split('\n')) {
    const [key, value] = line.split('=');
    if (key && value) images[key.replace(/^OTELKIT_|_IMAGE$/g, '').toLowerCase()] = value;
  }
  for (const [component, image] of Object.entries(images)) facts[component] = await inspect(image);
}, 60 * 60_000);

afterAll(async () => {
  if (created.length > 0) await execa('docker', ['rm', ...created], { reject: false });
});

const owned = (f: ImageFacts, file: string) => {
  const entry = f.files.get(file);
  return entry && { uid: entry.uid, gid: entry.gid, dir: entry.mode.startsWith('d') };
};
const shells = (f: ImageFacts) => [...f.files.keys()].filter((p) => /\/(sh|busybox|bash|ash)$/.test(p));

describe('local images behave like the upstream ones', () => {
  it('builds one image per component', () => {
    expect(Object.keys(images).sort()).toEqual(['alertmanager', 'collector', 'loki', 'prometheus', 'tempo']);
  });

  it('Collector: FROM scratch, no shell or tools, runs as the user the compose file chowns the queue to', () => {
    const f = facts.collector!;
    expect(f.user).toBe(COLLECTOR_USER);
    expect(shells(f)).toEqual([]);
    expect(f.files.has('/tmp')).toBe(false);
    expect(f.entrypoint).toHaveLength(1);
    expect(f.files.get(f.entrypoint[0]!)?.mode).toMatch(/^-r.x/);
    expect(f.files.has('/etc/ssl/certs/ca-certificates.crt')).toBe(true);
  });

  it.each([
    ['prometheus', '/prometheus', ['/bin/prometheus', '/bin/promtool']],
    ['alertmanager', '/alertmanager', ['/bin/alertmanager', '/bin/amtool']],
  ])('%s: busybox base, user nobody owning its data directory', (component, data, binaries) => {
    const f = facts[component]!;
    expect(f.user).toBe('nobody');
    expect({ uid: f.uid, gid: f.gid }).toEqual({ uid: 65534, gid: 65534 });
    expect(owned(f, data)).toEqual({ uid: 65534, gid: 65534, dir: true });
    expect(owned(f, `/etc/${component}`)).toEqual({ uid: 65534, gid: 65534, dir: true });
    expect(f.workdir).toBe(data);
    for (const file of [...binaries, '/bin/sh', '/bin/wget', '/bin/chown'])
      expect(f.files.has(file)).toBe(true);
    expect(f.entrypoint).toEqual([binaries[0]]);
  });

  it('Loki: no shell and no busybox, uid 10001 owning /loki and /etc/loki, `loki -health` available', () => {
    const f = facts.loki!;
    expect(f.user).toBe('10001');
    expect(shells(f)).toEqual([]);
    expect(f.files.has('/bin/wget')).toBe(false);
    expect(owned(f, '/loki')).toEqual({ uid: 10001, gid: 10001, dir: true });
    expect(owned(f, '/loki/rules')).toEqual({ uid: 10001, gid: 10001, dir: true });
    expect(owned(f, '/etc/loki')).toEqual({ uid: 10001, gid: 10001, dir: true });
    expect(f.entrypoint).toEqual(['/usr/bin/loki']);
    expect(f.cmd).toEqual(['-config.file=/etc/loki/local-config.yaml']);
  });

  it('Tempo: busybox only under /busybox (no /bin/sh), uid 10001 owning /var/tempo (0700)', () => {
    const f = facts.tempo!;
    expect(f.user).toBe('10001:10001');
    expect(f.files.has('/bin/sh')).toBe(false);
    expect(f.files.has('/busybox/sh')).toBe(true);
    expect(f.files.has('/busybox/wget')).toBe(true);
    expect(f.files.get('/var/tempo')).toEqual({ mode: 'drwx------', uid: 10001, gid: 10001 });
    expect(f.entrypoint).toEqual(['/tempo']);
    expect(f.cmd ?? null).toBeNull();
  });

  it.each(['examples/shop/otelkit.yaml', 'examples/gateway/otelkit.yaml'])(
    '%s: every program the compose file runs in an image is one that image has',
    async (spec) => {
      const { model } = await loadSpec(path.join(REPO, spec));
      const services = Object.entries(composeFile(model).services) as [
        string,
        { image: string; healthcheck?: { test: string[] }; entrypoint?: string[] },
      ][];
      const missing: string[] = [];
      for (const [name, service] of services) {
        const component = /OTELKIT_([A-Z]+)_IMAGE/.exec(service.image)![1]!.toLowerCase();
        const f = facts[component];
        if (!f) continue; // Grafana has no local image
        const run = (kind: string, [program, ...args]: string[]) => {
          const found = program!.startsWith('/')
            ? f.files.has(program!)
            : f.path.some((dir) => f.files.has(`${dir}/${program}`));
          if (!found) missing.push(`${name} ${kind}: ${[program, ...args].join(' ')}`);
        };
        if (service.healthcheck) {
          // CMD-SHELL needs /bin/sh, which most of these images do not have
          expect([name, service.healthcheck.test[0]]).toEqual([name, 'CMD']);
          run('healthcheck', service.healthcheck.test.slice(1));
        }
        if (service.entrypoint) run('entrypoint', service.entrypoint);
      }
      expect(missing).toEqual([]);
    },
  );
});
