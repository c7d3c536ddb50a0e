/**
 * `npm run bench:generate`: the whole generate command (parse, validate, every target, render,
 * write) on specs of 50, 500 and 2,000 services cloned from the bundled example's services, each
 * written to a fresh directory. Figures are the best of BENCH_ROUNDS runs; the ratio is the cost
 * per service against the 50-service spec of the same run, so 1.0 means linear; cpu is the CPU
 * time of that run (user + system), steadier than wall time when other work shares the machine.
 * Not a test.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, load } from 'js-yaml';
import { render, writeOutput } from '../generator/emit/emit.ts';
import { loadSpec } from '../generator/spec/load.ts';
import { generateArtifacts } from '../generator/targets/index.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = (process.env.BENCH_SIZES ?? '50,500,2000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** The target: 500 services in under 2 s. */
const TARGET_500_MS = 2000;

type Service = { name: string; dependencies?: { service?: string; name: string }[] };

async function specOf(services: number, dir: string): Promise<string> {
  const example = load(await readFile(path.join(REPO, 'examples/shop/otelkit.yaml'), 'utf8')) as {
    services: Service[];
  };
  const templates = example.services;
  const cloned: Service[] = [];
  for (let i = 0; cloned.length < services; i++) {
    const template = templates[i % templates.length]!;
    const suffix = `-${Math.floor(i / templates.length)}`;
    const copy = structuredClone(template);
    copy.name = `${template.name}${suffix}`;
    // dependencies on other services point at the clone of the same round
    for (const dependency of copy.dependencies ?? [])
      if (dependency.service) dependency.service = `${dependency.service}${suffix}`;
    cloned.push(copy);
  }
  // a round cut short would leave a dependency on a service that is not there
  const names = new Set(cloned.map((s) => s.name));
  for (const service of cloned)
    service.dependencies = service.dependencies?.filter((d) => !d.service || names.has(d.service));
  const file = path.join(dir, `otelkit-${services}.yaml`);
  await writeFile(file, dump({ ...example, services: cloned }, { lineWidth: -1 }));
  return file;
}

async function once(spec: string) {
  const out = await mkdtemp(path.join(os.tmpdir(), 'otelkit-bench-out-'));
  const phases = { load: 0, targets: 0, render: 0, write: 0 };
  const cpuStart = process.cpuUsage();
  let mark = performance.now();
  const lap = (phase: keyof typeof phases) => {
    const now = performance.now();
    phases[phase] = now - mark;
    mark = now;
  };
  const { model } = await loadSpec(spec);
  lap('load');
  const artifacts = generateArtifacts(model);
  lap('targets');
  const files = render(artifacts, path.basename(spec));
  lap('render');
  await writeOutput(out, files);
  lap('write');
  // CPU time (user + system) besides wall time: on a shared machine the wall time also counts the others
  const { user, system } = process.cpuUsage(cpuStart);
  await rm(out, { recursive: true, force: true });
  const total = phases.load + phases.targets + phases.render + phases.write;
  return { total, cpu: (user + system) / 1000, phases, files: files.size };
}

// BENCH_SPEC_ONLY=N writes the N-service spec, prints its path and stops (to profile one phase)
if (process.env.BENCH_SPEC_ONLY) {
  console.log(await specOf(Number(process.env.BENCH_SPEC_ONLY), os.tmpdir()));
  process.exit(0);
}
const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-bench-'));
try {
  const rows: { services: number; files: number; ms: number; cpu: number; phases: Record<string, number> }[] =
    [];
  for (const services of SIZES) {
    const spec = await specOf(services, scratch);
    let best: Awaited<ReturnType<typeof once>> | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const run = await once(spec);
      if (!best || run.total < best.total) best = run;
    }
    rows.push({ services, files: best!.files, ms: best!.total, cpu: best!.cpu, phases: best!.phases });
  }
  const base = rows[0]!;
  const perService = (row: (typeof rows)[number]) => row.ms / row.services;
  console.log('services  files     total   load  targets  render  write   per-service vs first     cpu');
  for (const row of rows) {
    const p = row.phases;
    console.log(
      `${String(row.services).padStart(8)} ${String(row.files).padStart(6)} ${row.ms.toFixed(0).padStart(7)} ms` +
        ` ${p.load!.toFixed(0).padStart(6)} ${p.targets!.toFixed(0).padStart(8)} ${p.render!.toFixed(0).padStart(7)}` +
        ` ${p.write!.toFixed(0).padStart(6)}   ${(perService(row) / perService(base)).toFixed(2).padStart(5)}x` +
        ` ${row.cpu.toFixed(0).padStart(13)} ms`,
    );
  }
  const at500 = rows.find((r) => r.services === 500);
  if (at500) console.log(`500 services: ${at500.ms.toFixed(0)} ms (target < ${TARGET_500_MS} ms)`);
  console.log(
    JSON.stringify({
      bench: 'generate',
      ms: Object.fromEntries(rows.map((r) => [r.services, Math.round(r.ms)])),
      cpu_ms: Object.fromEntries(rows.map((r) => [r.services, Math.round(r.cpu)])),
      per_service_ratio_vs_first: Object.fromEntries(
        rows.map((r) => [r.services, Number((perService(r) / perService(base)).toFixed(2))]),
      ),
      files: Object.fromEntries(rows.map((r) => [r.services, r.files])),
    }),
  );
} finally {
  await rm(scratch, { recursive: true, force: true });
}
