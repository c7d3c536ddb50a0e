import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import { loadSpec } from '../generator/spec/load.ts';
import { builderManifest, componentType, usedComponents } from '../generator/targets/collector-build.ts';
import { COMPONENT, collectorConfigs, type CollectorConfig } from '../generator/targets/collector.ts';
import {
  COMPONENT_KINDS,
  buildCollector,
  gomods,
  parseManifest,
  unavailableModules,
  validateWith,
  withoutModules,
  type Manifest,
} from './collector-tools.ts';
import { REPO, cli } from './helpers.ts';

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
          expect({ name, first: pipeline.processors[0] }).toEqual({ name, first: COMPONENT.memoryLimiter });
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
  });

  it('follows the spec: sampling policies, persistent queues, debug exporter only when asked', async () => {
    const shop = collectorConfigs(await model('shop')).main;
    const sampling = shop.processors[COMPONENT.tailSampling] as { policies: { name: string }[] };
    expect(sampling.policies.map((p) => p.name)).toEqual([
      'keep-errors',
      'keep-slow',
      'keep-debug-requests',
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
  const missing = new Map<string, { gomod: string; error: string }[]>();

  beforeAll(async () => {
    for (const example of EXAMPLES) {
      const manifest = parseManifest(
        await readFile(path.join(outputDir(example), 'stacks/collector/builder-config.yaml'), 'utf8'),
      );
      const unavailable = await unavailableModules(manifest);
      missing.set(example, unavailable);
      binaries.set(
        example,
        await buildCollector(
          withoutModules(
            manifest,
            unavailable.map((u) => u.gomod),
          ),
          example,
        ),
      );
    }
  }, COLD_BUILD_TIMEOUT);

  it('builds the bundled example with every component it needs', () => {
    expect(missing.get('shop')).toEqual([]);
  });

  it.each(EXAMPLES)(
    '%s: every generated config that uses only obtainable components is accepted',
    async (example) => {
      const binary = binaries.get(example)!;
      const unavailableTypes = missing.get(example)!.map((u) => u.gomod);
      for (const file of configFiles(example)) {
        const config = load(await readFile(path.join(outputDir(example), file), 'utf8')) as CollectorConfig;
        const types = COMPONENT_KINDS.flatMap((kind) => Object.keys(config[kind]).map(componentType));
        const needsMissing = unavailableTypes.length > 0 && types.includes(COMPONENT.loadBalancingExporter);
        const result = await validateWith(binary, path.join(outputDir(example), file));
        if (!needsMissing) {
          expect({ file, ...result }).toEqual({ file, exitCode: 0, output: expect.any(String) });
        } else {
          // The agent config is fine except for the one component this machine cannot fetch:
          // the only complaint must be about that component type.
          expect(result.exitCode).not.toBe(0);
          const complaints = result.output
            .split('\n')
            .filter((l) => /unknown type|invalid keys|error/i.test(l));
          expect(
            complaints.every(
              (l) =>
                l.includes(`"${COMPONENT.loadBalancingExporter}"`) || /^Error: failed to get config/.test(l),
            ),
          ).toBe(true);
        }
      }
    },
  );

  it('names the components the Go module proxy would not serve (shown in the closing report)', () => {
    const gateway = missing.get('gateway')!;
    for (const { gomod, error } of gateway) {
      expect(gomod).toMatch(/loadbalancingexporter/);
      expect(error).toMatch(/not available|403|404|410/);
    }
  });

  it('otelkit validate runs the real check on the bundled example', async () => {
    const result = await cli(['validate']);
    expect(result.stderr).toContain('accepted by otelcol-otelkit');
    expect(result.code).toBe(0);
  });

  it(
    'removing any one component from the manifest makes validate fail',
    async () => {
      const manifest = parseManifest(
        await readFile(path.join(REPO, 'stacks/collector/builder-config.yaml'), 'utf8'),
      );
      const config = path.join(REPO, 'stacks/collector/config.yaml');
      for (const gomod of gomods(manifest)) {
        const binary = await buildCollector(
          withoutModules(manifest, [gomod]),
          `without-${path.basename(gomod.split(' ')[0]!)}`,
        );
        const result = await validateWith(binary, config);
        expect({ gomod, failed: result.exitCode !== 0 }).toEqual({ gomod, failed: true });
        expect(result.output).toMatch(/unknown type/);
      }
    },
    COLD_BUILD_TIMEOUT,
  );
});
