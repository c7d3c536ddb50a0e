import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { load, dump } from 'js-yaml';
import { buildCatalogue } from '../../../generator/alerting/catalogue.ts';
import { loadSpec } from '../../../generator/spec/load.ts';
import { burnWindows } from '../../../generator/model/slo.ts';
import { REPO, cli, tempDir } from '../../support/helpers.ts';

const shop = async () => (await loadSpec(path.join(REPO, 'examples/shop/otelkit.yaml'))).model;

describe('alert catalogue (static)', () => {
  it('names, labels and annotations follow the conventions', async () => {
    const { alerts } = buildCatalogue(await shop());
    expect(alerts.length).toBeGreaterThan(40);
    const names = alerts.map((a) => a.rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const { rule } of alerts) {
      expect(rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(['critical', 'warning', 'info']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toMatch(/^[^.]+(\.[^ .][^.]*)*\.$/); // one sentence
      expect(rule.annotations.description).toContain('{{ $labels.');
      expect(rule.annotations.runbook_url).toBe(
        `https://github.com/example/shop/blob/main/runbooks/${rule.alert}.md`,
      );
    }
  });

  it('has a runbook file and three promtool cases (fire, silent, resolve) for every alert', async () => {
    const { alerts } = buildCatalogue(await shop());
    const runbooks = await readdir(path.join(REPO, 'runbooks'));
    for (const alert of alerts) {
      expect(runbooks).toContain(`${alert.rule.alert}.md`);
      const outcomes = alert.cases.map((c) => c.checks.map((check) => check.firing));
      if (alert.rule.alert === 'Watchdog') {
        // always firing by design: its cases prove exactly that
        expect(outcomes.flat()).toEqual([true, true, true]);
        continue;
      }
      expect(outcomes.slice(0, 3)).toEqual([[true], [false], [true, false]]);
      // any further case proves one more way the alert stays silent
      for (const extra of outcomes.slice(3)) expect(extra).toEqual([false]);
    }
  });

  it('keeps the SRE workbook burn rates for every period and scales the windows instead', () => {
    const day = 86_400_000;
    const minutes = (ms: number) => ms / 60_000;
    for (const period of [7, 14, 28, 30])
      expect(burnWindows(period * day).map((w) => w.factor)).toEqual([14.4, 6, 3, 1]);
    expect(burnWindows(30 * day).map((w) => [minutes(w.longMs), minutes(w.shortMs)])).toEqual([
      [60, 5],
      [360, 30],
      [1440, 120],
      [4320, 360],
    ]);
    expect(burnWindows(7 * day).map((w) => [minutes(w.longMs), minutes(w.shortMs)])).toEqual([
      [14, 1],
      [84, 7],
      [336, 28],
      [1008, 84],
    ]);
  });

  it('pages with tier labels that the Alertmanager inhibition uses', async () => {
    const model = await shop();
    const { alerts } = buildCatalogue(model);
    const burn = alerts.filter((a) => a.rule.labels.alertgroup === 'slo');
    expect(new Set(burn.map((a) => a.rule.labels.tier))).toEqual(new Set(['page', 'ticket']));
    const am = load(await readFile(path.join(REPO, 'stacks/alertmanager/alertmanager.yml'), 'utf8')) as {
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
    };
    expect(am.inhibit_rules[0]).toEqual({
      source_matchers: ['tier="page"'],
      target_matchers: ['tier="ticket"'],
      equal: ['service_name', 'slo'],
    });
  });
});

/** Real promtool and amtool, built from their Go modules by scripts/build-backends.sh (cached). */
describe('Prometheus and Alertmanager files (real promtool, amtool)', () => {
  const tools: Record<string, string> = {};

  beforeAll(async () => {
    const result = await execa(path.join(REPO, 'scripts/build-backends.sh'), ['promtool', 'amtool'], {
      reject: false,
      all: true,
    });
    if (result.exitCode !== 0)
      throw new Error(`building promtool/amtool failed:\n${result.all?.slice(-3000)}`);
    for (const line of result.stdout.split('\n')) {
      const [tool, binary] = line.split('=');
      if (tool && binary) tools[tool] = binary;
    }
  }, 45 * 60_000);

  const promtool = (args: string[], cwd = REPO) =>
    execa(tools.promtool!, args, { cwd, reject: false, all: true });

  it('promtool check config accepts prometheus.yml and the rule files it loads', async () => {
    const result = await promtool(['check', 'config', 'stacks/prometheus/prometheus.yml']);
    expect(result.all).toMatch(/SUCCESS/);
    expect(result.exitCode).toBe(0);
  });

  it('promtool check rules accepts every rule file', async () => {
    const files = (await readdir(path.join(REPO, 'alerts'))).filter((f) => f.endsWith('.rules.yml'));
    const result = await promtool(['check', 'rules', ...files.map((f) => `alerts/${f}`)]);
    expect({ exitCode: result.exitCode, output: result.all }).toEqual({
      exitCode: 0,
      output: expect.not.stringMatching(/FAILED/),
    });
  });

  it(
    'promtool test rules passes every generated unit test',
    async () => {
      const files = (await readdir(path.join(REPO, 'alerts/tests'))).filter((f) => f.endsWith('.test.yml'));
      expect(files.length).toBeGreaterThan(5);
      // two at a time: the long-window SLO files take most of a minute each
      const queue = [...files];
      const results: { file: string; exitCode: number | undefined; output: string | undefined }[] = [];
      const worker = async () => {
        for (let file = queue.shift(); file; file = queue.shift()) {
          const result = await promtool(['test', 'rules', file], path.join(REPO, 'alerts/tests'));
          results.push({ file, exitCode: result.exitCode, output: result.all });
        }
      };
      await Promise.all([worker(), worker()]);
      for (const { file, exitCode, output } of results) {
        expect({ file, exitCode, output }).toEqual({
          file,
          exitCode: 0,
          output: expect.stringMatching(/SUCCESS/),
        });
      }
    },
    20 * 60_000,
  );

  it('the unit tests can fail: a threshold nudged past its test makes promtool test fail', async () => {
    const dir = await tempDir('promtool-broken');
    await cp(path.join(REPO, 'alerts'), path.join(dir, 'alerts'), { recursive: true });
    const rules = path.join(dir, 'alerts/golden-signals.rules.yml');
    const text = await readFile(rules, 'utf8');
    // 5% error-rate threshold moved to 50%: the "fires" case (10% errors) must now fail
    await writeFile(rules, text.replace('> 0.05', '> 0.5'));
    const result = await promtool(
      ['test', 'rules', 'golden-signals.test.yml'],
      path.join(dir, 'alerts/tests'),
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toMatch(/HighErrorRate fires/);
  });

  it.each([
    [
      'a burn-rate factor raised (the fire case must fail)',
      (line: string) => line.replaceAll('> 0.0072 ', '> 0.072 '),
    ],
    [
      'a burn-rate factor lowered (the silent case must fail)',
      (line: string) => line.replaceAll('> 0.0072 ', '> 0.00072 '),
    ],
    [
      'the short window widened from 5m to 30m (the resolve case must fail)',
      (line: string) => line.replace('slo:sli_error:ratio_rate5m{', 'slo:sli_error:ratio_rate30m{'),
    ],
  ])('hand-editing %s makes promtool test rules fail', async (_, edit) => {
    const dir = await tempDir('promtool-burn');
    await cp(path.join(REPO, 'alerts'), path.join(dir, 'alerts'), { recursive: true });
    // only this alert's cases, to keep the run short; they pass before the edit
    const testsFile = path.join(dir, 'alerts/tests/slo-checkout.test.yml');
    const tests = load(await readFile(testsFile, 'utf8')) as { tests: { name: string }[] };
    tests.tests = tests.tests.filter((t) => t.name.startsWith('CheckoutAvailabilityBurnRate1h '));
    expect(tests.tests).toHaveLength(4);
    await writeFile(path.join(dir, 'alerts/tests/one.test.yml'), dump(tests, { lineWidth: -1 }));
    const before = await promtool(['test', 'rules', 'one.test.yml'], path.join(dir, 'alerts/tests'));
    expect({ exitCode: before.exitCode, output: before.all }).toEqual({
      exitCode: 0,
      output: expect.stringMatching(/SUCCESS/),
    });

    const rulesFile = path.join(dir, 'alerts/slo-checkout.rules.yml');
    const lines = (await readFile(rulesFile, 'utf8')).split('\n');
    const at = lines.findIndex((l) => l.includes('alert: CheckoutAvailabilityBurnRate1h'));
    expect(lines[at + 1]).toContain('> 0.0072 ');
    const edited = edit(lines[at + 1]!);
    expect(edited).not.toBe(lines[at + 1]);
    lines[at + 1] = edited;
    await writeFile(rulesFile, lines.join('\n'));
    const after = await promtool(['test', 'rules', 'one.test.yml'], path.join(dir, 'alerts/tests'));
    expect(after.exitCode).not.toBe(0);
    expect(after.all).toMatch(/CheckoutAvailabilityBurnRate1h/);
  });

  it('amtool check-config accepts alertmanager.yml, and rejects an unknown receiver', async () => {
    const ok = await execa(tools.amtool!, ['check-config', 'stacks/alertmanager/alertmanager.yml'], {
      cwd: REPO,
      reject: false,
      all: true,
    });
    expect({ exitCode: ok.exitCode, output: ok.all }).toEqual({
      exitCode: 0,
      output: expect.stringMatching(/SUCCESS/),
    });
    const dir = await tempDir('amtool-broken');
    const config = load(await readFile(path.join(REPO, 'stacks/alertmanager/alertmanager.yml'), 'utf8')) as {
      route: { receiver: string };
    };
    config.route.receiver = 'nobody';
    await writeFile(path.join(dir, 'alertmanager.yml'), dump(config));
    const bad = await execa(tools.amtool!, ['check-config', 'alertmanager.yml'], {
      cwd: dir,
      reject: false,
      all: true,
    });
    expect(bad.exitCode).not.toBe(0);
  });

  it(
    'otelkit validate runs promtool and amtool on a fresh render',
    async () => {
      const result = await cli(['validate'], REPO, {
        ...process.env,
        OTELKIT_PROMTOOL: tools.promtool,
        OTELKIT_AMTOOL: tools.amtool,
      });
      expect(result.stderr).toMatch(/unit-test files pass promtool/);
      expect(result.stderr).toMatch(/accepted by amtool/);
    },
    20 * 60_000,
  );
});
