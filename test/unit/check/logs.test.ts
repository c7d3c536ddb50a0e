import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RESILIENCE_EVENTS } from '../../../runtime/standard.ts';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

const SPEC = path.join(REPO, 'examples/shop/otelkit.yaml');

const base = {
  timestamp: '2026-03-01T12:00:00.123Z',
  level: 'info',
  logger: 'modules.backend.api.health',
  message: 'order 42 placed',
  event: 'order 42 placed',
  service: 'checkout',
  environment: 'production',
  request_id: 'req-abc.123:x',
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  span_id: '00f067aa0ba902b7',
  frontend: 'web',
  func_name: 'place_order',
  lineno: 42,
};

const GOOD = [
  base,
  // outside a request: ids absent or null, as Node and Python write them
  {
    timestamp: '2026-03-01T12:00:01+00:00',
    level: 'warning',
    logger: 'app',
    event: 'slow query',
    request_id: null,
    func_name: '<module>',
    lineno: 7,
  },
  { ...base, level: 'critical', message: 'disk full', password: '[REDACTED]', note: 'for [REDACTED:email]' },
  {
    ...base,
    level: 'warning',
    resilience_event: 'retry_attempt',
    dependency: 'broker_api',
    attempt: 2,
    duration_ms: 1523.4,
    error: 'ConnectionError: connection reset',
  },
  {
    ...base,
    level: 'error',
    resilience_event: 'circuit_breaker_opened',
    dependency: 'payments',
    attempt: null,
  },
];

const BAD: [string, object | string, string][] = [
  ['not JSON', 'order 42 placed', 'not JSON'],
  ['a level the standard does not have', { ...base, level: 'warn' }, 'the standard spells it warning'],
  ['an upper-case level', { ...base, level: 'ERROR' }, 'write it in lower case'],
  ['a local timestamp', { ...base, timestamp: '2026-03-01T13:00:00+01:00' }, 'not ISO 8601 in UTC'],
  ['no logger', { ...base, logger: undefined }, 'missing required field "logger"'],
  ['no message', { ...base, message: undefined, event: undefined }, 'a "message" or "event" field'],
  [
    'no func_name (the standard has it on every line)',
    { ...base, func_name: undefined },
    'missing required field "func_name"',
  ],
  [
    'no lineno (the standard has it on every line)',
    { ...base, lineno: undefined },
    'missing required field "lineno"',
  ],
  ['a lineno that is text', { ...base, lineno: '42' }, 'lineno must be a non-negative integer'],
  [
    'a short trace id',
    { ...base, trace_id: '4bf92f35' },
    'trace_id "4bf92f35" is not 32 lower-case hex digits',
  ],
  ['an all-zero span id', { ...base, span_id: '0000000000000000' }, 'span_id "0000000000000000" is not 16'],
  [
    'a request id with spaces',
    { ...base, request_id: 'bad id<script>' },
    'request_id "bad id<script>" is not',
  ],
  [
    'a frontend outside the allow-list',
    { ...base, frontend: 'evil' },
    'frontend "evil" is not in the spec\'s allow-list',
  ],
  [
    'an email in the message',
    { ...base, message: 'mail alice.smith@example.com' },
    'message has a value matching the redaction pattern email',
  ],
  [
    'a card number deep inside',
    { ...base, order: { pan: '4111 1111 1111 1111' } },
    'order.pan has a value matching the redaction pattern card_number',
  ],
  [
    'a password in clear',
    { ...base, password: 'hunter2' },
    'password is a blocked key with a value that is not [REDACTED]',
  ],
  ['a prefixed secret key', { ...base, db_password: 'hunter2' }, 'db_password is a blocked key'],
  [
    "the kit's old event name",
    { ...base, level: 'warning', resilience_event: 'retry', dependency: 'x' },
    'resilience_event "retry" is not one of',
  ],
  [
    'an event at the wrong level',
    { ...base, level: 'info', resilience_event: 'circuit_breaker_opened', dependency: 'x' },
    'circuit_breaker_opened is logged at error, not info',
  ],
  [
    'an event without dependency',
    { ...base, level: 'warning', resilience_event: 'retry_attempt' },
    'needs "dependency"',
  ],
  [
    'a zero-based attempt',
    { ...base, level: 'warning', resilience_event: 'retry_attempt', dependency: 'x', attempt: 0 },
    '1-based integer',
  ],
];

const jsonl = (lines: (object | string)[]) =>
  lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n') + '\n';

describe('otelkit check logs', () => {
  it('passes log lines in the standard schema', async () => {
    const dir = await tempDir('check-logs-good');
    await writeFile(path.join(dir, 'good.jsonl'), jsonl(GOOD));
    const result = await cli(['check', 'logs', path.join(dir, 'good.jsonl'), '--spec', SPEC]);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toBe(`${GOOD.length} log lines conform`);
  });

  it.each(BAD)('fails %s, naming the line', async (_, line, message) => {
    const dir = await tempDir('check-logs-bad');
    await writeFile(path.join(dir, 'bad.jsonl'), jsonl([...GOOD, line]));
    const result = await cli(['check', 'logs', path.join(dir, 'bad.jsonl'), '--spec', SPEC]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`bad.jsonl:${GOOD.length + 1}: `);
    expect(result.stdout).toContain(message);
    expect(result.stdout.split('\n').every((l) => l.includes(`:${GOOD.length + 1}: `))).toBe(true);
    expect(result.stderr).toBe(`1 of ${GOOD.length + 1} log lines break the standard's schema`);
  });

  it("reads stdin with -, as a CI step piping a service's output would", () => {
    const run = (input: string) =>
      spawnSync(process.execPath, [path.join(REPO, 'bin/otelkit.js'), 'check', 'logs', '-', '--spec', SPEC], {
        input,
        encoding: 'utf8',
      });
    expect(run(jsonl(GOOD)).status).toBe(0);
    const bad = run(jsonl([GOOD[0]!, { ...base, level: 'fatal' }]));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(
      'stdin:2: level "fatal" is not one of debug, info, warning, error, critical (the standard calls it critical)',
    );
  });

  it('is bad usage (exit 2) for an unreadable file', async () => {
    const result = await cli(['check', 'logs', '/nonexistent/file.jsonl', '--spec', SPEC]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cannot read /nonexistent/file.jsonl: ENOENT');
  });

  it('knows the nine resilience events of the standard, at its levels', () => {
    expect(RESILIENCE_EVENTS).toEqual({
      circuit_breaker_opened: 'error',
      circuit_breaker_half_open: 'warning',
      circuit_breaker_closed: 'info',
      circuit_breaker_rejected: 'warning',
      retry_attempt: 'warning',
      retry_exhausted: 'error',
      timeout_exceeded: 'warning',
      bulkhead_rejected: 'warning',
      bulkhead_contention: 'warning',
    });
  });
});
