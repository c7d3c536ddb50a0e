import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

/** validate and generate print the sizing warnings (capacity.ts), located, and keep their exit codes. */

const UNDERSIZED =
  '  gateway_replicas: 3\n  expected_load:\n    spans_per_second: 90000\n    log_records_per_second: 0\n    data_points_per_second: 0\n';

async function undersizedSpec() {
  const dir = await tempDir('sizing');
  const original = await readFile(path.join(REPO, 'examples/gateway/otelkit.yaml'), 'utf8');
  const text = original.replace('  gateway_replicas: 3\n', UNDERSIZED);
  expect(text).not.toBe(original);
  await writeFile(path.join(dir, 'otelkit.yaml'), text);
  // where the key is, as an editor shows it
  const line = text.split('\n').indexOf('  gateway_replicas: 3') + 1;
  // no cached tools: validate reports them as not run, and only the spec's own checks count
  const env = { ...process.env, OTELKIT_CACHE_DIR: path.join(dir, 'no-cache') };
  return { dir, line, env };
}

const WARNING = (line: number) =>
  `otelkit.yaml:${line}:3: collector.gateway_replicas: warning: 3 gateway replicas carry 72,000 spans/s at 24,000 spans/s per replica (80% of 30,000 per core, bench:collector, generated pipeline on one core of a 2-core x86 VM, 2026-12), but collector.expected_load declares 90,000 spans/s; set 4 or remove the key to size it from the load`;

describe('sizing warnings on the command line', () => {
  it('validate prints a located warning naming the figure, and exits as before', async () => {
    const { dir, line, env } = await undersizedSpec();
    const result = await cli(['validate', 'otelkit.yaml'], dir, env);
    const lines = result.stderr.split('\n');
    expect(lines[0]).toBe('otelkit.yaml: spec is valid (2 services)');
    expect(lines[1]).toBe(WARNING(line));
    // the same load is too much for the memory limit the example sets, named at its key too
    expect(lines.slice(1, 3).map((l) => l.split(': ')[1])).toEqual([
      'collector.gateway_replicas',
      'collector.memory_limit_mib',
    ]);
    expect(lines[3]).toMatch(/^checking /);
    expect(result.code).toBe(0);
  }, 120_000);

  it('generate prints it too, and writes what the spec set', async () => {
    const { dir, line, env } = await undersizedSpec();
    const result = await cli(['generate', 'otelkit.yaml', '--out', 'out'], dir, env);
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n')[0]).toBe(WARNING(line));
    const compose = await readFile(path.join(dir, 'out/compose/docker-compose.yml'), 'utf8');
    expect(compose).toContain('otel-collector-gateway-3:');
    expect(compose).not.toContain('otel-collector-gateway-4:');
  });

  it('the bundled examples generate without a warning', async () => {
    for (const example of ['shop', 'gateway']) {
      const out = await tempDir(`sizing-${example}`);
      const result = await cli([
        'generate',
        path.join(REPO, 'examples', example, 'otelkit.yaml'),
        '--out',
        out,
      ]);
      expect(result.code).toBe(0);
      expect(result.stderr).not.toContain('warning:');
    }
  });
});
