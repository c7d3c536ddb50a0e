import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import { render } from '../../../generator/emit/emit.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../generator/targets/index.ts';
import { TOPOLOGY } from '../../../generator/model/topology.ts';
import { REPO } from '../../support/helpers.ts';

/**
 * Hosts and ports have one home, generator/model/topology.ts: a stack port typed in generator code fails
 * here (the runtimes that run inside apps import nothing of the generator and keep their own
 * default endpoint), and the generated files agree with it.
 */

const HOME = 'generator/model/topology.ts';
const PORTS = [...new Set(Object.values(TOPOLOGY).flatMap((c) => Object.values(c.ports) as number[]))];
// a port where a port goes (after a colon, as a port field or argument); the ports no other number
// is likely to equal (unlike 3000, a common timeout) anywhere at all
const DISTINCT = PORTS.filter((p) => p !== 3000);
const TYPED = new RegExp(
  `(?:[:]|port['"]?\\s*[:=(]\\s*)(${PORTS.join('|')})\\b|(?<![\\w.])(${DISTINCT.join('|')})(?![\\w.])`,
  'gi',
);

describe('topology', () => {
  it(`ports are typed only in ${HOME}`, async () => {
    const entries = await readdir(path.join(REPO, 'generator'), { withFileTypes: true, recursive: true });
    const files = entries
      .filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => path.relative(REPO, path.join(e.parentPath, e.name)))
      .filter((file) => file !== HOME);
    expect(files.length).toBeGreaterThan(50);
    const found: string[] = [];
    for (const file of files) {
      const lines = (await readFile(path.join(REPO, file), 'utf8')).split('\n');
      for (const [index, line] of lines.entries()) {
        if (/^\s*(\*|\/\/)/.test(line)) continue;
        for (const match of line.matchAll(TYPED)) found.push(`${file}:${index + 1}: ${match[0]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('the compose file publishes every backend port where verify and the datasources reach it', async () => {
    const { model } = await loadSpec(path.join(REPO, 'examples/shop/otelkit.yaml'));
    const files = render(generateArtifacts(model), 'x');
    const compose = load(files.get('compose/docker-compose.yml')!) as {
      services: Record<string, { ports?: string[] }>;
    };
    for (const component of ['prometheus', 'alertmanager', 'loki', 'tempo', 'grafana'] as const) {
      const { host, ports } = TOPOLOGY[component];
      expect(compose.services[host]?.ports).toContain(`127.0.0.1:${ports.http}:${ports.http}`);
    }
    const datasources = files.get('grafana/provisioning/datasources/otelkit.yaml')!;
    for (const component of ['prometheus', 'loki', 'tempo', 'alertmanager'] as const)
      expect(datasources).toContain(
        `url: http://${TOPOLOGY[component].host}:${TOPOLOGY[component].ports.http}`,
      );
  });
});
