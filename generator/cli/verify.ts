import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { render, writeOutput } from '../emit/emit.ts';
import type { LoadedSpec } from '../spec/load.ts';
import { generateArtifacts } from '../targets/index.ts';
import { startStack } from '../verify/stack.ts';
import { summaryTable, verifyStack } from '../verify/verify.ts';
import type { Io } from './io.ts';

/**
 * Renders the spec into a scratch directory, starts that compose file's backends, probes them and
 * always tears them down. Images come from OTELKIT_<NAME>_IMAGE or the upstream defaults.
 */
export async function runVerify(io: Io, loaded: LoadedSpec): Promise<number> {
  const files = render(generateArtifacts(loaded.model), 'verify');
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-verify-'));
  try {
    await writeOutput(scratch, files);
    const images = Object.fromEntries(
      Object.entries(io.env).filter(([key]) => /^OTELKIT_[A-Z]+_IMAGE$/.test(key)),
    );
    const stack = await startStack(scratch, images, io.err);
    try {
      const results = await verifyStack({ outDir: scratch, model: loaded.model, progress: io.err });
      for (const line of summaryTable(results)) io.out(line);
      const missing = results.filter((r) => !r.ok);
      if (missing.length > 0) {
        io.err(`verify failed: ${missing.map((r) => r.name).join('; ')}`);
        return 1;
      }
      io.err(`verify passed: ${results.length} checks`);
      return 0;
    } finally {
      await stack.down();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
