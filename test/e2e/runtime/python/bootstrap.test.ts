import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadSpec } from '../../../../generator/spec/load.ts';
import { generateArtifacts } from '../../../../generator/targets/index.ts';
import { HEALTH_ROUTES, PYTHON_SETTINGS_SCHEMA, pythonTarget } from '../../../../generator/targets/python.ts';
import { RESILIENCE_EVENTS } from '../../../../runtime/standard.ts';
import { RESILIENCE_METRICS } from '../../../../generator/model/conventions.ts';
import { REPO } from '../../../support/helpers.ts';
import { startProtobufReceiver } from '../../../support/otlp-receiver.ts';
import { appDirectory, parseEnvFile, pythonModel, pythonVenv, runPython, runScript } from './harness.ts';

/** The generated bootstrap as Python: it compiles, lints clean, and its settings are checked on its side too. */

// importing the sources in place must leave no __pycache__ in the repository
const NO_BYTECODE = { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1' };

let python: string;
beforeAll(() => {
  python = path.join(pythonVenv(), 'bin', 'python');
}, 600_000);

const pythonFiles = async (dir: string) =>
  (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.py')).map((f) => path.join(dir, f));

describe('the generated Python bootstrap', () => {
  it('compiles and passes pyflakes', async () => {
    const { dir } = await appDirectory('fastapi_app.py');
    const files = await pythonFiles(path.join(dir, 'preload/python'));
    expect(files.map((f) => path.basename(f)).sort()).toEqual(
      expect.arrayContaining(['sitecustomize.py', '__init__.py', 'logs.py', 'http.py', 'resilience.py']),
    );
    execFileSync(python, ['-m', 'py_compile', ...files]);
    const lint = spawnSync(python, ['-m', 'pyflakes', ...files], { encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });

  it('is written only for specs with a Python service, with the settings the Python side accepts', async () => {
    const loaded = await loadSpec(
      path.join(REPO, 'examples/shop/otelkit.yaml'),
      'examples/shop/otelkit.yaml',
    );
    const artifacts = generateArtifacts(loaded.model);
    const settings = artifacts.find(
      (a) => a.path === 'preload/python/otelkit_bootstrap/services/fulfilment-worker.json',
    );
    expect(settings).toBeDefined();
    expect(artifacts.some((a) => a.path === 'preload/python/sitecustomize.py')).toBe(true);
    const nodeOnly = { ...loaded.model, services: loaded.model.services.filter((s) => s.runtime === 'node') };
    expect(pythonTarget.generate(nodeOnly)).toEqual([]);
    const parsed = spawnSync(
      python,
      [
        '-c',
        'import json,sys; from otelkit_bootstrap.settings import parse; s = parse(json.load(sys.stdin), "x"); print(s.service, s.log_level, len(s.value_patterns))',
      ],
      {
        cwd: path.join(REPO, 'runtime/python'),
        env: NO_BYTECODE,
        input: JSON.stringify((settings as { content: unknown }).content),
        encoding: 'utf8',
      },
    );
    expect(parsed.stderr).toBe('');
    expect(parsed.stdout.trim()).toBe(
      `fulfilment-worker info ${loaded.model.redaction.valuePatterns.length}`,
    );
  });

  it('reads the env file the same from a POSIX shell (set -a; . file) as compose does line by line', async () => {
    const { dir, env } = await appDirectory('flask_app.py');
    const file = path.join(dir, 'preload', `${pythonModel().services[0]!.name}.env`);
    const shell = execFileSync('sh', ['-c', `set -a; . "${file}"; set +a; env`], {
      encoding: 'utf8',
      env: {},
    });
    const fromShell = parseEnvFile(shell);
    for (const [key, value] of Object.entries(env))
      expect({ key, value: fromShell[key] }).toEqual({ key, value });
    expect(env).toMatchObject({
      PYTHONPATH: 'preload/python',
      OTELKIT_SERVICE: 'orders-api',
      OTEL_TRACES_EXPORTER: 'otelkit',
      OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
    });
    const excluded = env.OTEL_PYTHON_EXCLUDED_URLS!.split(',').map((pattern) => new RegExp(pattern));
    const untraced = (url: string) => excluded.some((pattern) => pattern.test(url));
    for (const route of HEALTH_ROUTES) {
      expect(untraced(`http://127.0.0.1:8000${route}`)).toBe(true);
      expect(untraced(`http://127.0.0.1:8000${route}?verbose=1`)).toBe(true);
    }
    for (const traced of ['/orders/health', '/healthzone', '/metrics-report', '/'])
      expect({ traced, untraced: untraced(`http://127.0.0.1:8000${traced}`) }).toEqual({
        traced,
        untraced: false,
      });
  });
});

describe('an uncaught exception', () => {
  it('is one critical JSON line with the stack, redacted and exported, and the exit code stays 1', async () => {
    const receiver = await startProtobufReceiver();
    const { dir, env } = await appDirectory('crash_app.py');
    const result = await runScript(dir, ['opentelemetry-instrument', 'python', 'crash_app.py'], {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    await receiver.close();
    expect(result.code).toBe(1);
    const lines = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.message])).toEqual([
      ['critical', 'uncaught ValueError in thread worker-1: worker failed for [REDACTED:email]'],
      ['critical', 'uncaught RuntimeError in the main thread: password=[REDACTED] rejected'],
    ]);
    expect(String(lines[1]!.exception)).toContain('Traceback (most recent call last)');
    // no raw traceback besides the JSON lines
    expect(result.stderr.split('\n').filter((l) => l && !l.startsWith('{'))).toEqual([]);
    const everything = [result.stdout, result.stderr, ...receiver.bodies].join('\n');
    expect(everything).not.toContain('hunter2-Sup3r');
    expect(everything).not.toContain('alice.smith@example.com');
    expect(receiver.logRecords().map((r) => [r.severityText, r.severityNumber])).toEqual([
      ['CRITICAL', 21],
      ['CRITICAL', 21],
    ]);
  }, 120_000);
});

describe("the app's own logging set-up", () => {
  it('keeps working: basicConfig(level=...) still sets the level, and its handler prints no second copy', async () => {
    const { dir } = await appDirectory('fastapi_app.py');
    const result = spawnSync(
      python,
      [
        '-c',
        'import logging, otelkit_bootstrap as b\nb.start()\nlogging.getLogger("x").debug("before")\nlogging.basicConfig(level=logging.DEBUG, format="%(message)s")\nlogging.getLogger("x").debug("after token=abc")',
      ],
      {
        cwd: path.join(dir, 'preload/python'),
        env: { ...NO_BYTECODE, OTELKIT_SERVICE: pythonModel().services[0]!.name },
        encoding: 'utf8',
      },
    );
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'debug',
      logger: 'x',
      message: 'after token=[REDACTED]',
    });
  });
});

describe('libraries the bootstrap instruments', () => {
  const run = async (code: string) => {
    const { dir } = await appDirectory('fastapi_app.py');
    return spawnSync(python, ['-c', code], {
      cwd: path.join(dir, 'preload/python'),
      env: { ...NO_BYTECODE, OTELKIT_SERVICE: pythonModel().services[0]!.name },
      encoding: 'utf8',
    });
  };
  const LIBRARIES =
    "('structlog', 'tenacity', 'pybreaker', 'aiobreaker', 'httpx', 'flask', 'starlette', 'requests')";

  it('are imported by the app, not by the bootstrap, and patched when the app imports them', async () => {
    const result = await run(
      `import sys, otelkit_bootstrap as b\nb.start()\nprint([m for m in ${LIBRARIES} if m in sys.modules])\nimport flask, httpx, tenacity\nprint(sorted(b.patched()))`,
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual(['[]', "['flask', 'httpx', 'tenacity']"]);
  });

  it('cost only their own instrumentation when their version is one the bootstrap does not know', async () => {
    const result = await run(
      'import tenacity\ndel tenacity.BaseRetrying._begin_iter\nimport otelkit_bootstrap as b\nprint(b.start())\nimport pybreaker, aiobreaker, flask, starlette.applications, requests, httpx\nprint(sorted(b.patched()))',
    );
    expect(result.stderr).toContain('otelkit: tenacity: not installed (AttributeError');
    expect(result.stdout.trim().split('\n')).toEqual([
      'True',
      "['aiobreaker', 'asyncio event loops', 'flask', 'httpx', 'pybreaker', 'requests', 'starlette']",
    ]);
  });
});

describe('thread and process pools, and bulkheads, under the real SDK', () => {
  type Probe = Record<string, unknown> & { probe: string };
  const probes = async (...args: string[]) => {
    const { dir } = await appDirectory('pools_app.py');
    const result = spawnSync(
      python,
      [
        '-c',
        "import runpy, sys; sys.argv = ['pools_app.py', *sys.argv[1:]]; runpy.run_path('../../pools_app.py', run_name='__main__')",
        ...args,
      ],
      {
        cwd: path.join(dir, 'preload/python'),
        env: { ...NO_BYTECODE, OTELKIT_SERVICE: pythonModel().services[0]!.name },
        encoding: 'utf8',
      },
    );
    const lines = (result.stdout + result.stderr)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = Object.fromEntries(
      lines.filter((l): l is Probe => typeof l.probe === 'string').map(({ probe, ...rest }) => [probe, rest]),
    );
    return { result, steps, events: lines.filter((l) => 'resilience_event' in l) };
  };
  const figures = (pool: string, active: number, pending: number, max: number) => ({
    [`executor_active_workers{pool_type=${pool}}`]: active,
    [`executor_pending_tasks{pool_type=${pool}}`]: pending,
    [`executor_max_workers{pool_type=${pool}}`]: max,
  });

  let run: Awaited<ReturnType<typeof probes>>;
  beforeAll(async () => {
    run = await probes();
  }, 60_000);

  it('count running and waiting tasks and capacity by pool_type, a cancelled task and a shut-down pool too', () => {
    expect(run.result.status).toBe(0);
    expect(run.steps).toMatchObject({
      'thread: 2 running, 1 waiting': figures('thread', 2, 1, 2),
      'thread: a 4th submitted and cancelled': figures('thread', 2, 1, 2),
      // the app's pool and its TracedThreadPoolExecutor; asyncio.run shut its default executor down
      'thread: all done': figures('thread', 0, 0, 3),
      'thread: its pools shut down': figures('thread', 0, 0, 0),
      'process: 2 running, 1 waiting': figures('process', 2, 1, 2),
      'process: all done': figures('process', 0, 0, 2),
      'process: shut down': figures('process', 0, 0, 0),
    });
  });

  it("run every thread-pool task in the submitter's context: submit, a TracedThreadPoolExecutor, run_in_executor(None), to_thread", () => {
    const { results, expected } = run.steps['thread: the context the tasks ran in'] as {
      results: unknown[];
      expected: [string, string];
    };
    expect(expected[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(results).toEqual(Array(6).fill(expected));
  });

  it('limit calls by the spec’s max_concurrent across threads and coroutines, and report them', () => {
    expect(run.steps['bulkhead: limits']).toEqual({
      limit: 2,
      problems: [
        'bulkhead payments has 2 slots already; it cannot also have 3',
        'bulkhead nowhere: give limit= (an integer of at least 1) or set resilience.bulkhead.max_concurrent for nowhere in the spec',
      ],
    });
    expect(run.steps['bulkhead: use']).toEqual({
      available: 0,
      gauge: { 'semaphore_available{dependency=payments}': 0 },
      timed: expect.stringMatching(/^rejected after 0\.[23]s: payments: all 2 slots busy$/),
      // the thread's slot went to the waiting coroutine (the cancelled waiter took none)
      after_release: 0,
      task: 'held',
      in_a_decorated_function: 1,
      available_at_the_end: 2,
      counters: { 'bulkhead_rejections_total{dependency=payments}': 1 },
      gauge_at_the_end: { 'semaphore_available{dependency=payments}': 2 },
      reported: {
        'semaphore_available{dependency=payments}': 2,
        'semaphore_available{dependency=own-semaphore}': 7,
      },
    });
    expect(run.events).toEqual([
      expect.objectContaining({
        resilience_event: 'bulkhead_rejected',
        level: 'warning',
        dependency: 'payments',
        attempt: null,
        duration_ms: expect.any(Number),
        error: 'BulkheadFull: payments: all 2 slots busy',
        func_name: 'main',
      }),
    ]);
  });

  it('take a limit the app gives over the spec’s, saying so once', async () => {
    const { dir } = await appDirectory('pools_app.py');
    const result = spawnSync(
      python,
      [
        '-c',
        'import otelkit_bootstrap as b\nprint(b.bulkhead("payments", limit=3).limit, b.bulkhead("payments").limit)',
      ],
      {
        cwd: path.join(dir, 'preload/python'),
        env: { ...NO_BYTECODE, OTELKIT_SERVICE: pythonModel().services[0]!.name },
        encoding: 'utf8',
      },
    );
    expect(result.stdout).toBe('3 3\n');
    expect(result.stderr).toBe(
      "otelkit: bulkhead payments: limit=3 differs from the spec's max_concurrent 2 (its alerts and runbooks state the spec's)\n",
    );
  });

  it('limit calls just the same when the bootstrap is not started, reporting nothing', async () => {
    const off = await probes('--not-started');
    expect(off.result.status).toBe(0);
    expect(off.steps['bulkhead: use']).toMatchObject({
      available: 0,
      timed: expect.stringMatching(/^rejected after/),
      available_at_the_end: 2,
    });
    expect(off.events).toEqual([]);
  }, 60_000);
});

describe("the bootstrap's copy of the standard's tables", () => {
  it('has the resilience events, levels, breaker encoding and metric names the generator and check use', () => {
    const result = spawnSync(
      python,
      [
        '-c',
        'import json; from otelkit_bootstrap import resilience as r; print(json.dumps({"events": r.EVENTS, "states": r.STATE_VALUE, "metrics": r.METRICS}))',
      ],
      { cwd: path.join(REPO, 'runtime/python'), env: NO_BYTECODE, encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    const tables = JSON.parse(result.stdout) as {
      events: Record<string, string>;
      states: Record<string, number>;
      metrics: Record<string, string>;
    };
    expect(tables.events).toEqual(RESILIENCE_EVENTS);
    expect(tables.states).toEqual({ closed: 0, half_open: 1, open: 2 });
    for (const name of Object.values(tables.metrics)) expect(RESILIENCE_METRICS).toContain(name);
  });
});

describe('settings checked on the Python side', () => {
  const check = (settings: unknown) =>
    spawnSync(
      python,
      [
        '-c',
        'import json,sys\nfrom otelkit_bootstrap.settings import parse, SettingsError\ntry:\n parse(json.load(sys.stdin), "svc.json")\nexcept SettingsError as e:\n print("\\n".join(e.problems)); sys.exit(1)',
      ],
      {
        cwd: path.join(REPO, 'runtime/python'),
        env: NO_BYTECODE,
        input: JSON.stringify(settings),
        encoding: 'utf8',
      },
    );

  it('names every problem of a stale or hand-edited file', () => {
    const result = check({
      schema: 0,
      service: 'x',
      environment: 'e',
      project: 'p',
      frontends: 'web',
      redaction: { blockedKeys: ['password'], valuePatterns: [{ name: 'broken', regex: '([a-z' }] },
      logLevel: 'loud',
      requestIdMaxLength: 0,
      dependencies: [],
      extra: true,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(`schema must be ${PYTHON_SETTINGS_SCHEMA}`);
    expect(result.stdout).toContain('unknown key extra');
    expect(result.stdout).toContain('frontends must be a list of strings');
    expect(result.stdout).toContain('valuePatterns[0] (broken) is not a valid Python regex');
    expect(result.stdout).toContain('logLevel must be one of debug, info, warning, error, critical');
    expect(result.stdout).toContain('requestIdMaxLength must be an integer from 1 to 1024');
  });

  it('keep an app whose settings are invalid from exporting anything unredacted', async () => {
    const receiver = await startProtobufReceiver();
    const { dir, env } = await appDirectory('fastapi_app.py');
    const file = path.join(dir, 'preload/python/otelkit_bootstrap/services/orders-api.json');
    const settings = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...settings, schema: 99 }));
    const app = await runPython(
      dir,
      ['opentelemetry-instrument', 'uvicorn', 'fastapi_app:app', '--host', '127.0.0.1', '--port', '$PORT'],
      { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    );
    expect((await app.request('/secrets?token=tok-9f8e7d6c5b4a3210')).status).toBe(200);
    await app.stop();
    await receiver.close();
    expect(app.stderr.join('\n')).toContain('otelkit: invalid settings, the bootstrap is off');
    // the app's bulkhead takes the spec's limit, which is not known: the app still starts
    expect(app.stderr.join('\n')).toContain('otelkit: bulkhead payments: calls are not limited');
    expect(app.stderr.join('\n')).toContain(`schema must be ${PYTHON_SETTINGS_SCHEMA}`);
    expect(receiver.requests.filter((r) => r.path === '/v1/traces')).toEqual([]);
    expect(receiver.bodies.join('\n')).not.toContain('tok-9f8e7d6c5b4a3210');
  }, 120_000);
});
