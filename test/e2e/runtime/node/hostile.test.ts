import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BUILTIN_BLOCKED_KEYS, BUILTIN_VALUE_PATTERNS } from '../../../../generator/model/model.ts';
import {
  compilePattern,
  createRedactor,
  re2ToRegExp,
  replacePattern,
} from '../../../../runtime/node/redact/redact.ts';
import { HOSTILE_ARGUMENTS, HOSTILE_TEXT, REDACTION_GAPS } from '../../../support/preload-corpus.ts';
import {
  appDirectory,
  runApp,
  startReceiver,
  testModel,
  writePreload,
  type Receiver,
  type RunningApp,
} from '../../../support/preload-harness.ts';

/**
 * The preload against hostile input: text shaped to make its redaction patterns backtrack, log
 * arguments that are huge, cyclic or booby-trapped, and the output paths that used to leak. The
 * inputs live in test/preload-corpus.ts beside the secret corpus.
 */

const redactor = createRedactor(
  [...BUILTIN_BLOCKED_KEYS],
  Object.entries(BUILTIN_VALUE_PATTERNS).map(([name, regex]) => ({ name, regex })),
);

// the least of a few runs: what the work costs, without the other processes sharing the machine
const least = (values: number[]) => Math.min(...values);

function cost(text: string) {
  const runs: number[] = [];
  for (let run = 0; run < 5; run++) {
    // a fresh string each run: short ones are memoised, these are not, but say so anyway
    const input = `${text}${run}`;
    const started = performance.now();
    redactor.text(input);
    runs.push(performance.now() - started);
  }
  return least(runs);
}

describe('redaction patterns', () => {
  // the bound is ten times what an idle machine takes (the CI machine is shared); a quadratic
  // pattern takes 100 ms and more here, and the ratio below catches it at any load
  it('cost time linear in the input: a 64 KiB hostile text adds < 10 ms', () => {
    for (const make of Object.values(HOSTILE_TEXT)) cost(make(4096));
    const slow: Record<string, number> = {};
    for (const [name, make] of Object.entries(HOSTILE_TEXT)) {
      const ms = cost(make(65536));
      // quadratic would be 16x a quarter of the input; linear is 4x
      const quarter = cost(make(16384));
      if (ms >= 10 || ms > 8 * quarter + 0.5) slow[name] = ms;
    }
    expect(slow).toEqual({});
  });

  it('never throw where the regexp engine runs out of stack: the text is redacted in pieces', () => {
    // V8 throws RangeError when a regexp's backtracking outgrows its stack; this engine does so for any
    // text over 100,000 characters, and the 64 KiB pieces get through
    class ExhaustedRegExp extends RegExp {
      override [Symbol.replace](text: string, replacement: string | ((substring: string) => string)): string {
        if (text.length > 100_000) throw new RangeError('Maximum call stack size exceeded');
        return typeof replacement === 'string'
          ? super[Symbol.replace](text, replacement)
          : super[Symbol.replace](text, replacement);
      }
    }
    const pattern = compilePattern('token', 'tok_[a-z0-9]{8}');
    const exhausted = { ...pattern, global: new ExhaustedRegExp(pattern.global.source, 'g') };
    const filler = 'word '.repeat(200_000);
    const text = `tok_aaaaaaaa ${filler}tok_bbbbbbbb ${filler}end`;
    const redacted = replacePattern(text, exhausted);
    expect(redacted).not.toMatch(/tok_[a-z0-9]{8}/);
    expect(redacted.match(/\[REDACTED:token\]/g)).toHaveLength(2);
    expect(redacted.length).toBe(text.length - 2 * 'tok_aaaaaaaa'.length + 2 * '[REDACTED:token]'.length);
  });

  it('replace exactly what the patterns match, leftmost first, as a plain replace does', () => {
    const alphabet = 'aZ9._%+-@ \t/=~bB1';
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const [name, regex] of Object.entries(BUILTIN_VALUE_PATTERNS)) {
      // the Luhn filter aside, which only card numbers have
      const pattern = compilePattern(`${name}-plain`, regex);
      const plain = re2ToRegExp(regex);
      for (let sample = 0; sample < 3000; sample++) {
        let text = '';
        const length = Math.floor(random() * 40);
        for (let at = 0; at < length; at++) text += alphabet[Math.floor(random() * alphabet.length)];
        expect([name, text, replacePattern(text, pattern)]).toEqual([
          name,
          text,
          text.replace(plain, `[REDACTED:${name}-plain]`),
        ]);
      }
    }
  });

  it('keep numeric ids that are not card numbers (Luhn) and redact the ones that are', () => {
    expect(redactor.text('request 1234567890123456789')).toBe('request 1234567890123456789');
    expect(redactor.text('card 4111 1111 1111 1111')).toBe('card [REDACTED:card_number]');
  });
});

describe('redacted copies of logged values', () => {
  const evaluate = (source: string) => new Function(`return ${source}`)() as unknown;

  it('take bounded time, print as util.inspect prints the original, and serialise without throwing', () => {
    for (const [name, { source, secret }] of Object.entries(HOSTILE_ARGUMENTS)) {
      const value = evaluate(source);
      const started = performance.now();
      const printed = format('value', redactor.data(value, true));
      const json = JSON.stringify(redactor.data({ value }));
      const ms = performance.now() - started;
      expect({ name, bounded: ms < 1000, json: typeof json }).toEqual({
        name,
        bounded: true,
        json: 'string',
      });
      if (secret) {
        expect(printed).not.toContain(secret);
        expect(json).not.toContain(secret);
      } else expect({ name, printed }).toEqual({ name, printed: format('value', value) });
    }
  });
});

const APP = `
const http = require('node:http');
const util = require('node:util');
const winston = require('winston');
const log = winston.createLogger({ transports: [new winston.transports.Console()] });
const hostile = JSON.parse(process.env.HOSTILE_JSON);
const gaps = JSON.parse(process.env.GAPS_JSON);
const server = http.createServer((req, res) => {
  const [, kind, name] = req.url.split('/');
  const started = performance.now();
  let threw = null;
  let expected;
  try {
    if (kind === 'log') {
      const value = new Function('return ' + hostile[name].source)();
      expected = util.format('hostile %s', name, value).slice(0, 4000);
      console.log('hostile %s', name, value);
    } else if (kind === 'winston') {
      const value = new Function('return ' + hostile[name].source)();
      log.info('winston ' + name, { value });
    } else if (kind === 'gap') {
      new Function(gaps[Number(name)].source)();
    }
  } catch (error) {
    threw = String(error);
  }
  res.end(JSON.stringify({ ms: performance.now() - started, threw, expected, rss: process.memoryUsage().rss }));
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

describe('the preload logging hostile arguments from a real app', () => {
  let receiver: Receiver;
  let app: RunningApp;

  beforeAll(async () => {
    receiver = await startReceiver();
    const dir = await appDirectory('preload-hostile', ['winston']);
    await writeFile(path.join(dir, 'app.cjs'), APP);
    const preload = await writePreload(dir, testModel('commonjs'), 'commonjs');
    app = await runApp(
      { dir, file: 'app.cjs', preload: ['--max-http-header-size=200000', ...preload] },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        HOSTILE_JSON: JSON.stringify(HOSTILE_ARGUMENTS),
        GAPS_JSON: JSON.stringify(REDACTION_GAPS),
      },
    );
  });

  afterAll(async () => {
    await app?.stop();
    await receiver?.close();
  });

  const call = async (pathName: string, headers?: Record<string, string>) => {
    const response = await fetch(`http://127.0.0.1:${app.port}${pathName}`, { headers });
    return (await response.json()) as { ms: number; threw: string | null; expected?: string; rss: number };
  };
  const lines = () =>
    [...app.stdout, ...app.stderr].flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  // a line reaches the pipe's reader after the response it was logged for
  const lineWhere = async (predicate: (line: Record<string, unknown>) => boolean) => {
    for (let waited = 0; waited < 3000; waited += 20) {
      const line = lines().find(predicate);
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  };

  it('logs every one in bounded time and memory, without throwing, as bare Node prints it', async () => {
    const first = await call('/log/circular');
    const results: Record<string, unknown> = {};
    let rss = first.rss;
    for (const [name, { secret }] of Object.entries(HOSTILE_ARGUMENTS)) {
      const result = await call(`/log/${name}`);
      rss = Math.max(rss, result.rss);
      const line = await lineWhere((l) => String(l.message).startsWith(`hostile ${name}`));
      results[name] = {
        bounded: result.ms < 2000,
        threw: result.threw,
        printed: secret
          ? !String(line?.message).includes(secret)
          : String(line?.message).slice(0, 4000) === result.expected,
      };
    }
    const expected = Object.fromEntries(
      Object.keys(HOSTILE_ARGUMENTS).map((name) => [name, { bounded: true, threw: null, printed: true }]),
    );
    expect(results).toEqual(expected);
    // 8 self-references alone took 2.4 GB
    expect((rss - first.rss) / 2 ** 20).toBeLessThan(200);
  });

  it("logs BigInt and circular winston meta instead of throwing from the app's logger.info", async () => {
    for (const name of ['bigint', 'circular']) {
      const result = await call(`/winston/${name}`);
      expect({ name, threw: result.threw }).toEqual({ name, threw: null });
      expect(await lineWhere((l) => l.message === `winston ${name}`)).toBeDefined();
    }
    const bigint = await lineWhere((l) => l.message === 'winston bigint');
    expect(bigint!.value).toEqual({ amount: String(10n ** 30n) });
    const circular = await lineWhere((l) => l.message === 'winston circular');
    expect(circular!.value).toEqual({ name: 'c', me: '[Circular]' });
  });

  it('closes the redaction gaps: Map values, console.table and dir, quoted values, sessionId, console.trace', async () => {
    const leaks: Record<string, string[]> = {};
    for (const [index, gap] of REDACTION_GAPS.entries()) {
      const before = app.stdout.length + app.stderr.length;
      const result = await call(`/gap/${index}`);
      expect({ gap: gap.name, threw: result.threw }).toEqual({ gap: gap.name, threw: null });
      for (let waited = 0; waited < 3000 && app.stdout.length + app.stderr.length === before; waited += 20)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const printed = [...app.stdout, ...app.stderr].join('\n');
      expect({ gap: gap.name, printed: app.stdout.length + app.stderr.length > before }).toEqual({
        gap: gap.name,
        printed: true,
      });
      const found = gap.secrets.filter((secret) => printed.includes(secret));
      if (found.length > 0) leaks[gap.name] = found;
    }
    expect(leaks).toEqual({});
    const trace = await lineWhere((l) => String(l.message).startsWith('Trace: tracing'));
    expect(String(trace?.message)).toMatch(/\n\s+at /);
  });

  it('echoes and logs a numeric request id as given, not as a card number', async () => {
    const id = '1234567890123456789';
    const response = await fetch(`http://127.0.0.1:${app.port}/gap/0`, { headers: { 'x-request-id': id } });
    expect(response.headers.get('x-request-id')).toBe(id);
    await response.text();
    expect(await lineWhere((l) => l.request_id === id)).toBeDefined();
  });
});

describe('the preload serving hostile paths and user agents', () => {
  let receiver: Receiver;
  const apps: Record<'bare' | 'preloaded', RunningApp | undefined> = {
    bare: undefined,
    preloaded: undefined,
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    const dir = await appDirectory('preload-hostile-latency', ['winston']);
    await writeFile(path.join(dir, 'app.cjs'), APP);
    const preload = await writePreload(dir, testModel('commonjs'), 'commonjs');
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      HOSTILE_JSON: '{}',
      GAPS_JSON: '[]',
    };
    const flags = ['--max-http-header-size=200000'];
    apps.bare = await runApp({ dir, file: 'app.cjs', preload: flags }, env);
    apps.preloaded = await runApp({ dir, file: 'app.cjs', preload: [...flags, ...preload] }, env);
  });

  afterAll(async () => {
    await apps.bare?.stop();
    await apps.preloaded?.stop();
    await receiver?.close();
  });

  it('adds < 5 ms over bare Node to a request with a 64 KiB hostile User-Agent or a 16 KiB path', async () => {
    const timed = async (app: RunningApp, pathName: string, headers?: Record<string, string>) => {
      const runs: number[] = [];
      for (let run = 0; run < 5; run++) {
        const started = performance.now();
        await fetch(`http://127.0.0.1:${app.port}${pathName}`, { headers }).then((r) => r.text());
        runs.push(performance.now() - started);
      }
      return least(runs);
    };
    for (let warm = 0; warm < 20; warm++) {
      await timed(apps.bare!, '/plain');
      await timed(apps.preloaded!, '/plain');
    }
    const slow: Record<string, number> = {};
    for (const [name, make] of Object.entries(HOSTILE_TEXT)) {
      const headers = { 'user-agent': make(65536) };
      const pathName = `/plain/${encodeURIComponent(make(16384))}`;
      const added = Math.max(
        (await timed(apps.preloaded!, '/plain', headers)) - (await timed(apps.bare!, '/plain', headers)),
        (await timed(apps.preloaded!, pathName)) - (await timed(apps.bare!, pathName)),
      );
      if (added >= 5) slow[name] = added;
    }
    expect(slow).toEqual({});
  });
});
