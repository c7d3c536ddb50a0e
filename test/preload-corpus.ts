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
