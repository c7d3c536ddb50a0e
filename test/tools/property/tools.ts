import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { validateCollectorConfig, COLLECTOR_CONFIGS } from '../../../generator/validate/collector.ts';
import { run } from '../../../generator/validate/tools.ts';

/**
 * The real tools over many rendered outputs at once: one invocation for all of them where the tool
 * takes several files (promtool, amtool), and only on a failing batch one per output to name it.
 * Tools that read one config per run (otelcol, loki, tempo) see each distinct config once.
 */

export interface Output {
  /** Label used in failure reports, e.g. the case number. */
  id: string;
  dir: string;
  files: string[];
}

export interface Failure {
  id: string;
  tool: string;
  output: string;
}

export interface Binaries {
  promtool: string;
  amtool: string;
  loki: string;
  tempo?: string | undefined;
  /** Picks the Collector built with every component this output's configs use. */
  collector: (output: Output) => Promise<string>;
}

const excerpt = (text: string) => text.split('\n').slice(-12).join('\n');

/** Runs `check` on all items at once; if it fails, on each one alone to find which. */
async function batched(
  items: Output[],
  tool: string,
  check: (items: Output[]) => Promise<{ ok: boolean; output: string }>,
  size = 50,
): Promise<Failure[]> {
  const failures: Failure[] = [];
  for (let start = 0; start < items.length; start += size) {
    const batch = items.slice(start, start + size);
    if (batch.length === 0) continue;
    const result = await check(batch);
    if (result.ok) continue;
    let found = false;
    for (const item of batch) {
      const alone = await check([item]);
      if (!alone.ok) {
        found = true;
        failures.push({ id: item.id, tool, output: excerpt(alone.output) });
      }
    }
    if (!found) failures.push({ id: batch.map((b) => b.id).join(','), tool, output: excerpt(result.output) });
  }
  return failures;
}

/** Same content apart from the header line (which names the spec) means one check is enough. */
async function distinct(outputs: Output[], file: string) {
  const seen = new Map<string, { output: Output; ids: string[] }>();
  for (const output of outputs) {
    if (!output.files.includes(file)) continue;
    const text = await readFile(path.join(output.dir, file), 'utf8');
    const key = createHash('sha256')
      .update(text.replace(/^#.*\n/, ''))
      .digest('hex');
    const entry = seen.get(key);
    if (entry) entry.ids.push(output.id);
    else seen.set(key, { output, ids: [output.id] });
  }
  return [...seen.values()];
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

export interface ToolRun {
  failures: Failure[];
  /** Checks that passed and ran, per tool (counting each rendered file a tool accepted). */
  checked: Record<string, number>;
}

export interface Limits {
  /** Outputs whose promtool unit tests run (minutes each for long SLO periods); the rest skip them. */
  unitTests: number;
  /** Distinct configs per one-config-per-run tool (otelcol, loki, tempo), in case order. */
  perFileChecks: number;
  /** Which unit-test files run (all when absent). */
  unitTestFiles?: RegExp;
}

export async function checkOutputs(
  outputs: Output[],
  tools: Binaries,
  limits: Limits = { unitTests: Infinity, perFileChecks: Infinity },
): Promise<ToolRun> {
  const failures: Failure[] = [];
  const checked: Record<string, number> = {};
  const count = (tool: string, n: number) => (checked[tool] = (checked[tool] ?? 0) + n);
  const absolute = (o: Output, file: string) => path.join(o.dir, file);

  const prometheus = 'stacks/prometheus/prometheus.yml';
  const withPrometheus = outputs.filter((o) => o.files.includes(prometheus));
  // check config also loads and checks every rule file the config names
  failures.push(
    ...(await batched(withPrometheus, 'promtool check config', (items) =>
      run(tools.promtool, ['check', 'config', ...items.map((o) => absolute(o, prometheus))], '/'),
    )),
  );
  count('promtool check config', withPrometheus.length);

  const alertmanager = 'stacks/alertmanager/alertmanager.yml';
  const withAlertmanager = outputs.filter((o) => o.files.includes(alertmanager));
  failures.push(
    ...(await batched(withAlertmanager, 'amtool check-config', (items) =>
      run(tools.amtool, ['check-config', ...items.map((o) => absolute(o, alertmanager))], '/'),
    )),
  );
  count('amtool check-config', withAlertmanager.length);

  const single: {
    tool: string;
    file: string;
    run: (o: Output, file: string) => Promise<{ ok: boolean; output: string }>;
  }[] = [
    ...COLLECTOR_CONFIGS.map((file) => ({
      tool: 'otelcol validate',
      file,
      run: async (o: Output, f: string) => validateCollectorConfig(await tools.collector(o), absolute(o, f)),
    })),
    {
      tool: 'loki -verify-config',
      file: 'stacks/loki/loki.yaml',
      run: (o, f) => run(tools.loki, [`-config.file=${absolute(o, f)}`, '-verify-config'], o.dir),
    },
  ];
  if (tools.tempo) {
    const tempo = tools.tempo;
    single.push({
      tool: 'tempo -config.verify=true',
      file: 'stacks/tempo/tempo.yaml',
      run: (o, f) => run(tempo, [`-config.file=${absolute(o, f)}`, '-config.verify=true'], o.dir),
    });
  }
  for (const check of single) {
    const unique = (await distinct(outputs, check.file)).slice(0, limits.perFileChecks);
    await pool(unique, 2, async ({ output, ids }) => {
      const result = await check.run(output, check.file);
      if (!result.ok)
        failures.push({
          id: ids.join(','),
          tool: `${check.tool} ${check.file}`,
          output: excerpt(result.output),
        });
    });
    count(check.tool, unique.length);
  }
  const tests = (o: Output) =>
    o.files.filter(
      (f) =>
        f.startsWith('alerts/tests/') &&
        f.endsWith('.test.yml') &&
        (limits.unitTestFiles === undefined || limits.unitTestFiles.test(f)),
    );
  // when only a share runs, the outputs with the least test input: one with long SLO periods
  // alone can take minutes
  const testBytes = new Map<Output, number>();
  for (const o of outputs) {
    let bytes = 0;
    for (const f of tests(o)) bytes += (await readFile(absolute(o, f))).length;
    testBytes.set(o, bytes);
  }
  const withTests = outputs
    .filter((o) => tests(o).length > 0)
    .sort((a, b) => (limits.unitTests >= outputs.length ? 0 : testBytes.get(a)! - testBytes.get(b)!))
    .slice(0, limits.unitTests);
  failures.push(
    ...(await batched(
      withTests,
      'promtool test rules',
      (items) =>
        run(
          tools.promtool,
          ['test', 'rules', ...items.flatMap((o) => tests(o).map((f) => absolute(o, f)))],
          '/',
        ),
      20,
    )),
  );
  count(
    'promtool test rules',
    withTests.reduce((n, o) => n + tests(o).length, 0),
  );

  return { failures, checked };
}
