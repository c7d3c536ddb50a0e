import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import { loadSpec } from '../../../generator/spec/load.ts';
import { builderManifest, usedComponents } from '../../../generator/targets/collector-build.ts';
import { COMPONENT, collectorConfigs, type CollectorConfig } from '../../../generator/targets/collector.ts';
import {
  COMPONENT_KINDS,
  buildCollector,
  gomods,
  parseManifest,
  unavailableModules,
  validateWith,
  withoutModules,
  type Manifest,
} from '../../support/collector-tools.ts';
import { REPO, cli } from '../../support/helpers.ts';

const EXAMPLES = ['shop', 'gateway'] as const;
const outputDir = (example: string) => (example === 'shop' ? REPO : path.join(REPO, 'test/golden', example));
const configFiles = (example: string) =>
  example === 'gateway'
    ? ['stacks/collector/config.yaml', 'stacks/collector/gateway.yaml']
    : ['stacks/collector/config.yaml'];

async function model(example: string) {
  return (await loadSpec(path.join(REPO, 'examples', example, 'otelkit.yaml'))).model;
}

const COLD_BUILD_TIMEOUT = 45 * 60_000;

describe('Collector config (static)', () => {
  it.each(EXAMPLES)('%s: the manifest lists exactly the components the configs use', async (example) => {
    const m = await model(example);
    const configs = collectorConfigs(m);
    const used = usedComponents([configs.main, ...(configs.gateway ? [configs.gateway] : [])]);
    const manifest = builderManifest(m) as unknown as Manifest;
    const listed = gomods(manifest);
    expect(listed).toHaveLength(Object.values(used).flat().length);
    // every listed module is used, every used type is listed (module names derive from type names)
    expect(new Set(listed).size).toBe(listed.length);
    const committed = parseManifest(
      await readFile(path.join(outputDir(example), 'stacks/collector/builder-config.yaml'), 'utf8'),
    );
    expect(committed).toEqual(manifest);
  });

  it.each(EXAMPLES)(
    '%s: memory_limiter first, only env/system detection, pipelines reference defined components',
    async (example) => {
      const m = await model(example);
      const { main, gateway } = collectorConfigs(m);
      for (const config of [main, ...(gateway ? [gateway] : [])] as CollectorConfig[]) {
        for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
          // data from outside passes the memory limiter first; connectors carry what was admitted
          if (pipeline.receivers.includes(COMPONENT.otlpReceiver))
            expect({ name, first: pipeline.processors[0] }).toEqual({ name, first: COMPONENT.memoryLimiter });
          else
            expect({ name, receivers: pipeline.receivers.every((id) => id in config.connectors) }).toEqual({
              name,
              receivers: true,
            });
          for (const id of pipeline.processors) expect(Object.keys(config.processors)).toContain(id);
          for (const id of [...pipeline.receivers, ...pipeline.exporters]) {
            expect([
              ...Object.keys(config.receivers),
              ...Object.keys(config.exporters),
              ...Object.keys(config.connectors),
            ]).toContain(id);
          }
        }
        const detection = config.processors[COMPONENT.resourceDetection] as { detectors: string[] };
        expect(detection.detectors).toEqual(['env', 'system']);
      }
    },
  );

  it('computes span metrics before tail sampling, so RED counts every request', async () => {
    const { main } = collectorConfigs(await model('shop'));
    const spanMetricsPipeline = Object.values(main.service.pipelines).find((p) =>
      p.exporters.includes(COMPONENT.spanMetrics),
    )!;
    expect(spanMetricsPipeline.processors).not.toContain(COMPONENT.tailSampling);
    expect(main.service.pipelines.traces?.processors.at(-1)).toBe(COMPONENT.tailSampling);
    // both branches get the same normalised spans, which are admitted and normalised once
    const normalising = Object.values(main.service.pipelines).filter((p) =>
      p.processors.includes(`${COMPONENT.transform}/routes`),
    );
    expect(normalising).toHaveLength(1);
    expect(spanMetricsPipeline.receivers).toEqual(main.service.pipelines.traces?.receivers);
  });

  it('follows the spec: sampling policies, persistent queues, debug exporter only when asked', async () => {
    const shop = collectorConfigs(await model('shop')).main;
    const policies = (id: string) =>
      (shop.processors[id] as { policies: { name: string }[] }).policies.map((p) => p.name);
    expect(policies(COMPONENT.tailSampling)).toEqual(['keep-errors', 'keep-slow', 'keep-debug-requests']);
    // the base-rate sampler drops exactly what the first keeps, so no trace is kept twice
    expect(policies(`${COMPONENT.tailSampling}/base_rate`)).toEqual([
      'not-keep-errors',
      'not-keep-slow',
      'not-keep-debug-requests',
      'base-rate',
    ]);
    for (const exporter of Object.values(shop.exporters) as { sending_queue: { storage?: string } }[]) {
      expect(exporter.sending_queue.storage).toBe('file_storage/queue');
    }
    expect(Object.keys(shop.exporters)).not.toContain(COMPONENT.debugExporter);
    const gateway = collectorConfigs(await model('gateway'));
    expect(Object.keys(gateway.gateway!.exporters)).toContain(COMPONENT.debugExporter);
    expect(gateway.main.exporters[COMPONENT.loadBalancingExporter]).toMatchObject({ routing_key: 'traceID' });
  });

  it('escapes every literal $ so the Collector does not read it as an environment reference', async () => {
    const text = await readFile(path.join(REPO, 'stacks/collector/config.yaml'), 'utf8');
    expect(text).toContain('$$1');
    expect(text.replaceAll('$$', '')).not.toContain('$');
  });
});

/**
 * The real Collector, built from the generated manifests with the OpenTelemetry Collector Builder.
 * A cold build takes minutes (Go modules, compile); later runs hit the cache.
 */
describe('Collector config (real otelcol validate)', () => {
  const binaries = new Map<string, string>();

  beforeAll(async () => {
    for (const example of EXAMPLES) {
      const manifest = parseManifest(
        await readFile(path.join(outputDir(example), 'stacks/collector/builder-config.yaml'), 'utf8'),
      );
      // a module the Go module proxy will not serve would make the build fail obscurely: name it
      expect({ example, unavailable: await unavailableModules(manifest) }).toEqual({
        example,
        unavailable: [],
      });
      binaries.set(example, await buildCollector(manifest, example));
    }
  }, COLD_BUILD_TIMEOUT);

  it.each(EXAMPLES)(
    '%s: the Collector built from the generated manifest accepts every generated config',
    async (example) => {
      for (const file of configFiles(example)) {
        const result = await validateWith(binaries.get(example)!, path.join(outputDir(example), file));
        expect({ file, ...result }).toEqual({ file, exitCode: 0, output: expect.any(String) });
      }
    },
  );

  it("the built Collector has exactly the manifest's components", async () => {
    const { execa } = await import('execa');
    const listed = await execa(binaries.get('gateway')!, ['components']);
    const components = load(listed.stdout) as Record<string, { name: string }[]>;
    const config = collectorConfigs(await model('gateway'));
    const used = usedComponents([config.main, config.gateway!]);
    for (const kind of COMPONENT_KINDS) {
      const names = (components[kind] ?? []).map((c) => c.name).sort();
      expect({ kind, names }).toEqual({ kind, names: used[kind] });
    }
  });

  it('otelkit validate runs the real check on the bundled example', async () => {
    // the promtool part of validate has its own test; keep this one to the Collector
    const result = await cli(['validate'], REPO, { ...process.env, OTELKIT_PROMTOOL: '/nonexistent' });
    expect(result.stderr).toContain('accepted by otelcol-otelkit');
    expect(result.stderr).not.toMatch(/FAILED/);
  }, 300_000);

  it(
    'removing any one component from the manifest makes validate fail',
    async () => {
      const manifest = parseManifest(
        await readFile(path.join(REPO, 'stacks/collector/builder-config.yaml'), 'utf8'),
      );
      const config = path.join(REPO, 'stacks/collector/config.yaml');
      for (const gomod of gomods(manifest)) {
        const label = `without-${path.basename(gomod.split(' ')[0]!)}`;
        const binary = await buildCollector(withoutModules(manifest, [gomod]), label);
        const result = await validateWith(binary, config);
        expect({ gomod, failed: result.exitCode !== 0 }).toEqual({ gomod, failed: true });
        expect(result.output).toMatch(/unknown type/);
      }
    },
    COLD_BUILD_TIMEOUT,
  );
});
