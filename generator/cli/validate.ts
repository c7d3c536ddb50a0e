import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { render, writeOutput } from '../emit/emit.ts';
import { formatProblem } from '../spec/diagnostics.ts';
import type { LoadedSpec } from '../spec/load.ts';
import { generateArtifacts } from '../targets/index.ts';
import { TOOL_CHECKS, type ToolCheckResult } from '../validate/index.ts';
import type { Io } from './io.ts';

/**
 * Sizing warnings (capacity.ts), located like spec problems. They never change the exit code: the
 * spec is valid and its output works, it is only smaller than the load it declares.
 */
export function printWarnings(io: Io, loaded: LoadedSpec): void {
  for (const warning of loaded.warnings)
    io.err(formatProblem({ ...warning, message: `warning: ${warning.message}` }));
}

/**
 * The spec is already valid when this runs. Renders everything into a scratch directory and runs
 * each real tool that is available on it; a missing tool is reported plainly, never as a pass.
 */
export async function runValidate(io: Io, loaded: LoadedSpec): Promise<number> {
  io.err(`${loaded.file}: spec is valid (${loaded.model.services.length} services)`);
  printWarnings(io, loaded);
  const files = render(generateArtifacts(loaded.model), 'validate');
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-validate-'));
  try {
    await writeOutput(scratch, files);
    const results: ToolCheckResult[] = [];
    for (const check of TOOL_CHECKS) {
      io.err(`checking ${check.name} …`);
      const result = await check.run({ dir: scratch, files: [...files.keys()], env: io.env });
      results.push(result);
      const mark = result.status === 'passed' ? 'ok' : result.status === 'unavailable' ? 'skipped' : 'FAILED';
      io.err(`  ${mark}: ${result.summary}`);
      for (const line of result.details ?? []) io.err(`    ${line}`);
    }
    const failed = results.filter((r) => r.status === 'failed').length;
    const unavailable = results.filter((r) => r.status === 'unavailable').length;
    io.err(
      `${results.length - failed - unavailable} checks passed, ${failed} failed, ${unavailable} not run (tool unavailable)`,
    );
    return failed > 0 ? 1 : 0;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
