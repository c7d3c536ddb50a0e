import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { render, writeOutput } from '../emit/emit.ts';
import type { LoadedSpec } from '../spec/load.ts';
import { generateArtifacts } from '../targets/index.ts';
import { chooseImages, type ImageMode } from '../verify/images.ts';
import { BACKEND_SERVICES, abortProject, newProject, startStack } from '../verify/stack.ts';
import { summaryTable, verifyStack } from '../verify/verify.ts';
import type { Io } from './io.ts';

const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Ctrl-C or a CI timeout in the middle of verify would otherwise leave the stack running with its
 * restart policy, holding the ports the next verify needs: remove the project, then die of the
 * same signal so the caller sees it.
 */
function tearDownOnInterrupt(io: Io, project: string, scratch: string) {
  let teardown: Promise<void> | undefined;
  const release = () => {
    for (const signal of INTERRUPTS) process.removeListener(signal, onSignal);
  };
  // stays registered until the teardown is done: execa's exit hook re-raises a signal as soon as
  // no other listener is left, which would kill the process before the stack is removed
  const onSignal = (signal: NodeJS.Signals) => {
    if (teardown) return;
    io.err(`verify: ${signal}, removing ${project}`);
    teardown = abortProject(project)
      .then(() => rm(scratch, { recursive: true, force: true }))
      .finally(() => {
        release();
        process.kill(process.pid, signal);
      });
  };
  for (const signal of INTERRUPTS) process.on(signal, onSignal);
  return {
    /** Called when verify ends: an interrupt's teardown finishes (and the process dies) first. */
    async release() {
      if (teardown) await teardown;
      else release();
    },
  };
}

/**
 * Renders the spec into a scratch directory, starts that compose file's backends, probes them and
 * always tears them down. Images: see verify/images.ts (OTELKIT_<NAME>_IMAGE, upstream, or local).
 */
export async function runVerify(io: Io, loaded: LoadedSpec, imageMode: ImageMode = 'auto'): Promise<number> {
  const files = render(generateArtifacts(loaded.model), 'verify');
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'otelkit-verify-'));
  const project = newProject();
  const interrupts = tearDownOnInterrupt(io, project, scratch);
  try {
    await writeOutput(scratch, files);
    const images = await chooseImages(imageMode, scratch, BACKEND_SERVICES, io.env, io.err);
    const stack = await startStack(scratch, images, io.err, undefined, project);
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
    await interrupts.release();
    await rm(scratch, { recursive: true, force: true });
  }
}
