import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived signed tokens that switch one request into debug mode (fully sampled, debug logs).
 * Stateless: the expiry is inside the signed payload, so any instance holding the secret verifies
 * it, and nothing has to be stored or revoked.
 */

export const DEBUG_TOKEN_HEADER = 'x-debug-token';
export const DEBUG_SECRET_ENV = 'OTELKIT_DEBUG_SECRET';
export const MAX_DEBUG_TOKEN_TTL_MS = 60 * 60 * 1000;
/** Tolerated clock difference between the minting machine and the service. */
const CLOCK_SKEW_MS = 60 * 1000;
const VERSION = 'otk1';

export type DebugTokenVerdict =
  | { valid: true; expiresAt: number; nonce: string }
  | { valid: false; reason: 'malformed' | 'signature' | 'expired' | 'ttl' | 'no_secret' };

const sign = (secret: string, payload: string) =>
  createHmac('sha256', secret).update(payload).digest('base64url');

export function mintDebugToken(secret: string, ttlMs: number, now = Date.now()) {
  if (!secret) throw new Error(`${DEBUG_SECRET_ENV} is empty; set it to the secret the services share`);
  if (!(ttlMs > 0) || ttlMs > MAX_DEBUG_TOKEN_TTL_MS) {
    throw new Error('debug token TTL must be more than 0 and at most 60 minutes');
  }
  const expiresAt = Math.floor((now + ttlMs) / 1000);
  const nonce = randomBytes(8).toString('hex');
  const payload = `${VERSION}.${expiresAt}.${nonce}`;
  return { token: `${payload}.${sign(secret, payload)}`, expiresAt: expiresAt * 1000, nonce };
}

export function verifyDebugToken(
  token: string,
  secret: string | undefined,
  now = Date.now(),
): DebugTokenVerdict {
  if (!secret) return { valid: false, reason: 'no_secret' };
  const parts = token.split('.');
  if (
    parts.length !== 4 ||
    parts[0] !== VERSION ||
    !/^\d{1,12}$/.test(parts[1]!) ||
    !/^[0-9a-f]{16}$/.test(parts[2]!)
  ) {
    return { valid: false, reason: 'malformed' };
  }
  const expected = Buffer.from(sign(secret, parts.slice(0, 3).join('.')));
  const given = Buffer.from(parts[3]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { valid: false, reason: 'signature' };
  const expiresAt = Number(parts[1]) * 1000;
  if (expiresAt <= now) return { valid: false, reason: 'expired' };
  if (expiresAt - now > MAX_DEBUG_TOKEN_TTL_MS + CLOCK_SKEW_MS) return { valid: false, reason: 'ttl' };
  return { valid: true, expiresAt, nonce: parts[2]! };
}
