import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUILTIN_BLOCKED_KEYS, BUILTIN_VALUE_PATTERNS, type Model } from '../model/model.ts';
import { findSpec, loadSpec } from '../spec/load.ts';
import { generateArtifacts } from '../targets/index.ts';
import { UsageError, type Io } from '../cli/io.ts';
import { checkLogs } from './logs.ts';
import { compare, readMetrics, serviceNeeds } from './metrics.ts';

/**
 * `otelkit check logs [file|-] [--spec file]` and `otelkit check metrics <url> --service <name>
 * [--spec file]`, for a user's CI: exit 0 when the input conforms, 1 with every problem named, 2 on
 * bad usage or an invalid spec.
 */

export const CHECK_USAGE = `  check logs [file|-] [--spec file]     check JSON log lines against the standard's schema and the spec's redaction
  check metrics <url> --service <name>  name the metrics and labels the generated alerts and dashboards need that <url> lacks`;

async function model(io: Io, given: string | undefined, required: boolean): Promise<Model | undefined> {
  const file = given !== undefined ? path.resolve(io.cwd, given) : findSpec(io.cwd);
  if (file === undefined) {
    if (required)
      throw new UsageError('no spec found: name one with --spec, or run in the directory of otelkit.yaml');
    return undefined;
  }
  const relative = path.relative(io.cwd, file);
  return (await loadSpec(file, relative.startsWith('..') ? file : relative)).model;
}

function options(args: string[]) {
  try {
    return parseArgs({
      args,
      options: { spec: { type: 'string' }, service: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/, ''));
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runCheck(io: Io, args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === 'logs') return checkLogsCommand(io, rest);
  if (what === 'metrics') return checkMetricsCommand(io, rest);
  throw new UsageError(`check what? "check logs [file|-]" or "check metrics <url> --service <name>"`);
}

async function checkLogsCommand(io: Io, args: string[]): Promise<number> {
  const { values, positionals } = options(args);
  if (values.service !== undefined) throw new UsageError('--service is an option of check metrics');
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const source = positionals[0] ?? '-';
  const spec = await model(io, values.spec, false);
  let text: string;
  try {
    text = source === '-' ? await readStdin() : await readFile(path.resolve(io.cwd, source), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const redaction = spec?.redaction ?? {
    blockedKeys: [...BUILTIN_BLOCKED_KEYS],
    valuePatterns: Object.entries(BUILTIN_VALUE_PATTERNS).map(([name, regex]) => ({ name, regex })),
  };
  const frontends = spec ? [...new Set(spec.services.flatMap((s) => s.frontends))] : undefined;
  const { lines, problems } = checkLogs(text, { redaction, frontends });
  const label = source === '-' ? 'stdin' : source;
  for (const problem of problems) io.out(`${label}:${problem.line}: ${problem.message}`);
  const bad = new Set(problems.map((p) => p.line)).size;
  if (problems.length > 0) {
    io.err(
      `${bad} of ${lines} log lines break the standard's schema${spec ? '' : ' (built-in redaction rules; no spec found)'}`,
    );
    return 1;
  }
  io.err(`${lines} log lines conform${spec ? '' : ' (built-in redaction rules; no spec found)'}`);
  return 0;
}

async function checkMetricsCommand(io: Io, args: string[]): Promise<number> {
  const { values, positionals } = options(args);
  const url = positionals[0];
  if (url === undefined || positionals.length > 1)
    throw new UsageError('usage: check metrics <url of /metrics, or of a Prometheus> --service <name>');
  if (!/^https?:\/\//.test(url)) throw new UsageError(`${url} is not an http(s) URL`);
  const current = (await model(io, values.spec, true))!;
  const service = values.service;
  const names = current.services.map((s) => s.name);
  if (service === undefined || !names.includes(service))
    throw new UsageError(`--service must name a service of the spec: ${names.join(', ')}`);
  const all = serviceNeeds(current, generateArtifacts(current), service);
  const needs = all.filter((need) => need.named);
  const shown = all.filter((need) => !need.named).map((need) => need.metric);
  if (needs.length === 0) {
    io.err(
      `the generated alerts and dashboards read no metric from ${service} itself (its RED metrics come from its spans); nothing to check`,
    );
    return 0;
  }
  let read;
  try {
    read = await readMetrics(url, service, needs);
  } catch (error) {
    io.err(`cannot read ${url}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const verdict = compare(needs, read.metrics);
  const absentShown = shown.filter((metric) => !read.metrics.has(metric));
  if (absentShown.length)
    io.err(
      `not asked of ${service} (only dashboards for any service read them), absent: ${absentShown.join(', ')}`,
    );
  for (const need of verdict.missingMetrics)
    io.out(
      `missing metric ${need.metric}${need.labels.size ? `{${[...need.labels].sort().join(', ')}}` : ''} (read by ${[...need.readBy].sort().join('; ')})`,
    );
  for (const { need, labels } of verdict.missingLabels)
    io.out(
      `metric ${need.metric} has no label ${labels.join(', ')} (read by ${[...need.readBy].sort().join('; ')})`,
    );
  const problems = verdict.missingMetrics.length + verdict.missingLabels.length;
  if (problems > 0) {
    io.err(
      `${problems} of ${needs.length} metrics the generated alerts and dashboards read from ${service} are absent or incomplete at ${url}`,
    );
    return 1;
  }
  io.err(
    `all ${needs.length} metrics the generated alerts and dashboards read from ${service} are at ${url}, with their labels`,
  );
  return 0;
}
