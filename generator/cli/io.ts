/** The CLI's window on the world, passed in so tests run it in-process with captured output. */
export interface Io {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  out(line: string): void;
  err(line: string): void;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function processIo(): Io {
  return {
    cwd: process.cwd(),
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
}
