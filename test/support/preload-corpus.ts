/**
 * Secrets and personal data the preload must never export or print. Each sample names the exact
 * values that must not appear, the text form an app might log and the structured form.
 */
export interface SecretSample {
  secrets: string[];
  text: string;
  data: unknown;
}

export const SECRET_CORPUS: SecretSample[] = [
  {
    secrets: ['hunter2-Sup3r'],
    text: 'login failed password=hunter2-Sup3r',
    data: { password: 'hunter2-Sup3r' },
  },
  {
    secrets: ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'],
    text: 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
    data: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' },
  },
  {
    secrets: ['sess-cookie-a1b2c3'],
    text: 'cookie=sess-cookie-a1b2c3',
    data: { cookie: 'sess-cookie-a1b2c3' },
  },
  {
    secrets: ['alice.smith@example.com'],
    text: 'user alice.smith@example.com signed in',
    data: { user: 'alice.smith@example.com' },
  },
  {
    secrets: ['4111 1111 1111 1111'],
    text: 'charging 4111 1111 1111 1111 now',
    data: { pan: '4111 1111 1111 1111' },
  },
  {
    secrets: ['5500-0000-0000-0004'],
    text: 'card 5500-0000-0000-0004',
    data: { note: 'card 5500-0000-0000-0004' },
  },
  {
    secrets: ['sk_live_51HxAbCdEfGhIjKlMn'],
    text: 'using sk_live_51HxAbCdEfGhIjKlMn',
    data: { key: 'sk_live_51HxAbCdEfGhIjKlMn' },
  },
  {
    secrets: ['tok-9f8e7d6c5b4a3210'],
    text: 'callback?token=tok-9f8e7d6c5b4a3210&x=1',
    data: { token: 'tok-9f8e7d6c5b4a3210' },
  },
  {
    secrets: ['AKIAEXAMPLEKEY1234'],
    text: 'api_key=AKIAEXAMPLEKEY1234',
    data: { api_key: 'AKIAEXAMPLEKEY1234' },
  },
  {
    secrets: ['cs-verysecretvalue99'],
    text: 'client_secret: cs-verysecretvalue99',
    data: { client_secret: 'cs-verysecretvalue99' },
  },
  {
    secrets: ['rt-abcdef123456789'],
    text: '"refresh_token": "rt-abcdef123456789"',
    data: { refresh_token: 'rt-abcdef123456789' },
  },
  { secrets: ['378282246310005'], text: 'amex 378282246310005', data: { credit_card: '378282246310005' } },
  { secrets: ['cvv-8842x'], text: 'cvv=cvv-8842x', data: { cvv: 'cvv-8842x' } },
  { secrets: ['shh-its-a-secret'], text: 'secret: shh-its-a-secret', data: { secret: 'shh-its-a-secret' } },
  {
    secrets: ['at-1234567890abcdef'],
    text: 'access_token=at-1234567890abcdef',
    data: { access_token: 'at-1234567890abcdef' },
  },
  {
    secrets: ['MIIEvQIBADANBgkqhkiG9w0'],
    text: 'private_key=MIIEvQIBADANBgkqhkiG9w0',
    data: { private_key: 'MIIEvQIBADANBgkqhkiG9w0' },
  },
  { secrets: ['sess-5678efgh'], text: 'session_id=sess-5678efgh', data: { session_id: 'sess-5678efgh' } },
  {
    secrets: ['bob@corp.example.org'],
    text: 'GET /users/bob@corp.example.org',
    data: { path: '/users/bob@corp.example.org' },
  },
  { secrets: ['xak-0123456789'], text: 'x-api-key: xak-0123456789', data: { 'x-api-key': 'xak-0123456789' } },
  { secrets: ['pw-legacy-42'], text: 'passwd=pw-legacy-42', data: { passwd: 'pw-legacy-42' } },
  {
    secrets: ['pk_test_abcdefghijklmnop1234'],
    text: 'publishable pk_test_abcdefghijklmnop1234',
    data: { k: 'pk_test_abcdefghijklmnop1234' },
  },
  {
    secrets: ['dXNlcjpwYXNzd29yZA'],
    text: 'proxy-authorization: Basic dXNlcjpwYXNzd29yZA==',
    data: { 'proxy-authorization': 'Basic dXNlcjpwYXNzd29yZA==' },
  },
  {
    secrets: ['idt-998877'],
    text: 'id_token=idt-998877',
    data: { nested: { deeper: { id_token: 'idt-998877' } } },
  },
];

export const secretValues = (samples: SecretSample[] = SECRET_CORPUS) => samples.flatMap((s) => s.secrets);

/**
 * Client-supplied and logged text shaped to make a backtracking pattern quadratic (a long run of
 * one pattern's leading class, with or without the character it waits for), at any length. Paths
 * and user agents carry them to every request's redaction; apps log them.
 */
export const HOSTILE_TEXT: Record<string, (length: number) => string> = {
  letters: (n) => 'a'.repeat(n),
  lettersThenAt: (n) => `${'a'.repeat(n - 1)}@`,
  atThenLetters: (n) => `a@${'a'.repeat(n - 2)}`,
  atThenDots: (n) => `a@${'a.'.repeat((n - 2) / 2)}`,
  base64: (n) => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    let text = '';
    for (let at = 0; at < n; at++) text += alphabet[(at * 7919 + (at >> 5)) % 64];
    return text;
  },
  digitsAndSpaces: (n) => '1 '.repeat(n / 2),
  digits: (n) => '7'.repeat(n),
  userAgent: (n) => 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '.repeat(n / 52 + 1).slice(0, n),
  keyThenSpaces: (n) => `password${' '.repeat(n - 8)}`,
  keyThenOpenQuote: (n) => `password="${'a'.repeat(n - 10)}`,
  bearers: (n) => 'bearer '.repeat(n / 7),
  underscores: (n) => 'sk_'.repeat(n / 3),
  keys: (n) => 'token=x;'.repeat(n / 8),
};

/**
 * Log arguments that made console.log or winston slow, huge or throw under the preload, as source
 * evaluated inside the app (Proxies, getters and cycles do not travel as JSON). `secret` is a value
 * the printed line must not contain.
 */
export const HOSTILE_ARGUMENTS: Record<string, { source: string; secret?: string }> = {
  eightSelfReferences: {
    source: `(() => { const o = { name: 'loop', password: 'pw-loop-8' }; for (let i = 0; i < 8; i++) o['self' + i] = o; return o; })()`,
    secret: 'pw-loop-8',
  },
  tenSelfReferences: {
    source: `(() => { const o = { name: 'loop' }; for (let i = 0; i < 10; i++) o['self' + i] = o; return o; })()`,
  },
  sharedThirtyDeep: {
    source: `(() => { let o = { leaf: 1 }; for (let i = 0; i < 30; i++) o = { a: o, b: o }; return o; })()`,
  },
  tenThousandDeep: {
    source: `(() => { let o = { leaf: 1 }; for (let i = 0; i < 10000; i++) o = { o }; return o; })()`,
  },
  millionItems: { source: `Array.from({ length: 1000000 }, (_, i) => ({ i }))` },
  base64Blob: {
    source: `Buffer.from(Array.from({ length: 48 * 1024 }, (_, i) => (i * 7919) % 256)).toString('base64')`,
  },
  fiveMegabytesOfX: { source: `'x'.repeat(5 * 1024 * 1024)` },
  throwingGetter: {
    source: `({ ok: 1, get boom() { throw new Error('getter ran') } })`,
  },
  revokedProxy: {
    source: `(() => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; })()`,
  },
  throwingOwnKeys: {
    source: `new Proxy({ a: 1 }, { ownKeys() { throw new Error('ownKeys ran') }, getOwnPropertyDescriptor() { throw new Error('descriptor ran') } })`,
  },
  bigint: { source: `({ amount: 10n ** 30n })` },
  circular: { source: `(() => { const o = { name: 'c' }; o.me = o; return o; })()` },
  mapWithSecret: {
    source: `new Map([['password', 'pw-in-map'], ['note', 'card 4111 1111 1111 1111']])`,
    secret: 'pw-in-map',
  },
};

/** Secrets only some output paths leaked, each as the app would log it. */
export const REDACTION_GAPS: { name: string; source: string; secrets: string[] }[] = [
  {
    name: 'Map values',
    source: `console.log(new Map([['user', 'mia@example.com'], ['token', 'tok-map-1']]))`,
    secrets: ['mia@example.com', 'tok-map-1'],
  },
  {
    name: 'console.table',
    source: `console.table([{ user: 'ann', password: 'pw-table-1' }])`,
    secrets: ['pw-table-1'],
  },
  {
    name: 'quoted multi-word values',
    source: `console.log('login password="correct horse battery" ok')`,
    secrets: ['horse battery'],
  },
  {
    name: 'console.dir',
    source: `console.dir({ password: 'pw-dir-1', nested: { email: 'dir@example.com' } })`,
    secrets: ['pw-dir-1', 'dir@example.com'],
  },
  {
    name: 'sessionId keys',
    source: `console.log({ sessionId: 'sess-camel-1', SessionID: 'sess-camel-2' })`,
    secrets: ['sess-camel-1', 'sess-camel-2'],
  },
  {
    name: 'session id in text',
    source: `console.log('session id=sess-words-1 sessionId: sess-words-2')`,
    secrets: ['sess-words-1', 'sess-words-2'],
  },
  {
    name: 'console.trace',
    source: `console.trace('tracing', { password: 'pw-trace-1' })`,
    secrets: ['pw-trace-1'],
  },
];
