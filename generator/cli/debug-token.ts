import { parseArgs } from 'node:util';
import { DEBUG_SECRET_ENV, MAX_DEBUG_TOKEN_TTL_MS, mintDebugToken } from '../../runtime/debug-token.ts';
import { DURATION_HINT, parseDuration } from '../model/duration.ts';
import { UsageError, type Io } from './io.ts';

const DEFAULT_TTL = '15m';

/**
 * `otelkit debug-token [--ttl 15m]`: prints a token for the X-Debug-Token header on stdout and an
 * audit line on stderr, so the minting is on record wherever the CLI's output is collected.
 * Usage errors (bad TTL, missing secret) throw UsageError, i.e. exit code 2.
 */
export async function runDebugToken(io: Io, args: string[]): Promise<number> {
  let values: { ttl?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { ttl: { type: 'string', default: DEFAULT_TTL } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const ttlText = values.ttl ?? DEFAULT_TTL;
  const ttlMs = parseDuration(ttlText);
  if (ttlMs === undefined) throw new UsageError(`--ttl ${ttlText} is not a duration: ${DURATION_HINT}`);
  if (ttlMs <= 0 || ttlMs > MAX_DEBUG_TOKEN_TTL_MS) {
    throw new UsageError(
      `--ttl ${ttlText} is out of range: debug tokens live at most 60m; use e.g. --ttl 15m`,
    );
  }
  const secret = io.env[DEBUG_SECRET_ENV];
  if (!secret) {
    throw new UsageError(
      `${DEBUG_SECRET_ENV} is not set: export the secret your services share, then run again`,
    );
  }
  const minted = mintDebugToken(secret, ttlMs);
  io.out(minted.token);
  io.err(
    JSON.stringify({
      timestamp: new Date().toISOString(),
      level: 'info',
      logger: 'otelkit.audit',
      message: 'debug token minted',
      'log.class': 'audit',
      'debug_token.nonce': minted.nonce,
      'debug_token.expires_at': new Date(minted.expiresAt).toISOString(),
      user: io.env.USER ?? io.env.USERNAME ?? 'unknown',
    }),
  );
  return 0;
}
