/**
 * The sizing rule (generator/model/capacity.ts): replicas, memory and queues from the declared
 * load, the spec's own values winning, and the warnings that name the figure used.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { load } from 'js-yaml';
import {
  CAPACITY_HEADROOM,
  COLLECTOR_BASE_MIB,
  MAX_GATEWAY_REPLICAS,
  MEASURED_BY,
  MEASURED_SPANS_PER_CORE,
  MIN_QUEUE_BATCHES,
  QUEUE_BATCH_ITEMS,
  SPAN_HEAP_BYTES,
  TAIL_SAMPLING_HEADROOM,
  sizeCollectors,
  type SizingInput,
} from '../../../generator/model/capacity.ts';
import type { Model } from '../../../generator/model/model.ts';
import { tailDecisionWaitMs } from '../../../generator/model/sampling.ts';
import { formatProblem } from '../../../generator/spec/diagnostics.ts';
import { validateLoaded } from '../../../generator/spec/load.ts';
import { parseYamlSpec } from '../../../generator/spec/parse-yaml.ts';
import { collectorConfigs } from '../../../generator/targets/collector.ts';
import { composeFile } from '../../../generator/targets/compose.ts';
import { collectorArtifacts } from '../../../generator/targets/k8s/collector.ts';
import { REPO } from '../../support/helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PER_REPLICA = MEASURED_SPANS_PER_CORE * CAPACITY_HEADROOM;

const input = (overrides: Partial<SizingInput> & { spans?: number; logs?: number; points?: number } = {}) => {
  const { spans = 1000, logs = 0, points = 0, ...rest } = overrides;
  return {
    mode: 'gateway',
    load: {
      spansPerSecond: spans,
      spansPerTrace: 10,
      logRecordsPerSecond: logs,
      dataPointsPerSecond: points,
    },
    decisionWaitMs: 10_000,
    explicit: {},
    queue: { persistent: true, outageMs: 600_000, volume: '2Gi' },
    ...rest,
  } satisfies SizingInput;
};

/** The gateway example with its collector: section replaced, loaded as the CLI loads it. */
async function gatewaySpec(collector: string, extra = '') {
  const original = await readFile(path.join(REPO, 'examples/gateway/otelkit.yaml'), 'utf8');
  const start = original.indexOf('\ncollector:\n');
  const next = original.slice(start + 1).search(/\n\S/);
  const end = next === -1 ? original.length : next + start + 2;
  const text = `${original.slice(0, start)}\ncollector:\n${collector}${original.slice(end)}${extra}`;
  const parsed = parseYamlSpec(text, 'otelkit.yaml');
  if (!parsed.loaded) throw new Error(parsed.problems.map(formatProblem).join('\n'));
  return { text, ...validateLoaded(parsed.loaded, 'otelkit.yaml') };
}

/** The gateways' OpenTelemetryCollector resource of the Kubernetes output. */
function gatewayResource(model: Model): Json {
  const artifact = collectorArtifacts(model).find((a) => a.path === 'k8s/collector/otelkit-gateway.yaml');
  if (artifact?.format !== 'yaml') throw new Error('no gateway resource');
  return artifact.content as Json;
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('gateway replicas from the declared load', () => {
  it('a load that needs three gateways gets three, in compose, Kubernetes and the samplers', async () => {
    // 60,000 spans/s over 24,000 per replica is 2.5: three
    expect(sizeCollectors(input({ spans: 60_000 })).gatewayReplicas).toBe(3);
    expect(sizeCollectors(input({ spans: 2 * PER_REPLICA })).gatewayReplicas).toBe(2);
    expect(sizeCollectors(input({ spans: 2 * PER_REPLICA + 1 })).gatewayReplicas).toBe(3);
    // log records and data points count as spans
    expect(sizeCollectors(input({ spans: 40_000, logs: 4_000, points: 4_001 })).gatewayReplicas).toBe(3);

    const { model, warnings } = await gatewaySpec(
      '  mode: gateway\n  expected_load:\n    spans_per_second: 60000\n    log_records_per_second: 0\n    data_points_per_second: 0\n',
      'kubernetes:\n  storage:\n    collector_queue: 40Gi\n',
    );
    expect(warnings).toEqual([]);
    expect(model.collector.gatewayReplicas).toBe(3);
    const services = Object.keys(composeFile(model).services);
    expect(services.filter((name) => /^otel-collector-gateway-\d+$/.test(name))).toHaveLength(3);
    const gateway = gatewayResource(model);
    expect(gateway.spec.replicas).toBe(3);
    // the samplers share the 6,000 traces/s by trace id
    const sampler = (collectorConfigs(model).gateway as Json).processors.tail_sampling;
    expect(sampler.expected_new_traces_per_sec).toBe(2000);
  });

  it('gateway mode keeps two gateways for a small load; the defaults keep both examples as they were', async () => {
    expect(sizeCollectors(input({ spans: 10 })).gatewayReplicas).toBe(2);
    const { model, warnings } = await gatewaySpec('  mode: gateway\n');
    expect(warnings).toEqual([]);
    expect(model.collector).toMatchObject({ gatewayReplicas: 2, memoryLimitMib: 512 });
    expect(model.collector.queueItems.processing.traces).toBe(MIN_QUEUE_BATCHES * QUEUE_BATCH_ITEMS);
  });

  it('a load beyond any size the kit generates is capped and warned, naming the figure', () => {
    const sized = sizeCollectors(input({ spans: 500_000 }));
    expect(sized.gatewayReplicas).toBe(MAX_GATEWAY_REPLICAS);
    const finding = sized.findings.find((f) => f.path.join('.') === 'collector.expected_load')!;
    expect(finding.message).toContain('500,000 spans/s needs 21 gateway replicas');
    expect(finding.message).toContain(
      `at 24,000 spans/s per replica (80% of 30,000 per core, ${MEASURED_BY})`,
    );
    expect(finding.message).toContain(`more than the ${MAX_GATEWAY_REPLICAS} the kit generates`);
  });

  it('single mode with more than one Collector can carry is warned, with the gateway count that would', () => {
    const sized = sizeCollectors(input({ mode: 'single', spans: 30_000 }));
    expect(sized.findings.map((f) => f.path.join('.'))).toContain('collector.expected_load');
    expect(sized.findings[0]!.message).toMatch(
      /^30,000 spans\/s needs 2 Collectors at 24,000 spans\/s per replica .*single mode runs one; set collector\.mode: gateway \(sized to 2 gateway replicas\)$/,
    );
    const atCapacity = sizeCollectors(input({ mode: 'single', spans: PER_REPLICA }));
    expect(atCapacity.findings.map((f) => f.path.join('.'))).not.toContain('collector.expected_load');
  });

  it('gateway_replicas set in the spec wins, and is warned where it cannot carry the load, located at its key', async () => {
    const { text, model, warnings } = await gatewaySpec(
      '  mode: gateway\n  gateway_replicas: 3\n  memory_limit_mib: 4096\n  expected_load:\n    spans_per_second: 90000\n    log_records_per_second: 0\n    data_points_per_second: 0\n',
      'kubernetes:\n  storage:\n    collector_queue: 60Gi\n',
    );
    expect(model.collector.gatewayReplicas).toBe(3);
    expect(warnings.map(formatProblem)).toEqual([
      `otelkit.yaml:${lineOf(text, 'gateway_replicas: 3')}:3: collector.gateway_replicas: 3 gateway replicas carry 72,000 spans/s at 24,000 spans/s per replica (80% of 30,000 per core, ${MEASURED_BY}), but collector.expected_load declares 90,000 spans/s; set 4 or remove the key to size it from the load`,
    ]);
    expect(warnings[0]!.rule).toBe('collector-sizing');
  });
});

describe('memory from the tail samplers buffer', () => {
  it('the limit holds every span of a decision wait twice over, plus the Collector, under the memory limiter', async () => {
    const { model } = await gatewaySpec(
      '  mode: gateway\n  expected_load:\n    spans_per_second: 60000\n    log_records_per_second: 0\n    data_points_per_second: 0\n',
      'kubernetes:\n  storage:\n    collector_queue: 40Gi\n',
    );
    const gateway = collectorConfigs(model).gateway as Json;
    const limiter = gateway.processors.memory_limiter;
    const heldMib =
      ((60_000 / 3) * (tailDecisionWaitMs(model) / 1000) * TAIL_SAMPLING_HEADROOM * SPAN_HEAP_BYTES) /
      2 ** 20;
    // refusals start at limit_mib - spike_limit_mib
    expect(limiter.limit_mib - limiter.spike_limit_mib).toBeGreaterThanOrEqual(heldMib + COLLECTOR_BASE_MIB);
    expect(model.collector.memoryLimitMib).toBeGreaterThan(512);
    const k8s = gatewayResource(model);
    expect(k8s.spec.resources.limits.memory).toBe(`${model.collector.memoryLimitMib}Mi`);
    const compose = composeFile(model).services as Json;
    expect(compose['otel-collector-gateway-1'].mem_limit).toBe(`${model.collector.memoryLimitMib}m`);
  });

  it('a memory_limit_mib too small for the buffer is kept and warned with the figures used', () => {
    const sized = sizeCollectors(
      input({ spans: 90_000, explicit: { gatewayReplicas: 4, memoryLimitMib: 1024 } }),
    );
    expect(sized.memoryLimitMib).toBe(1024);
    const finding = sized.findings.find((f) => f.path.join('.') === 'collector.memory_limit_mib')!;
    expect(finding.message).toMatch(
      /^1,024 MiB cannot hold the tail samplers' buffer: 22,500 spans\/s per Collector held 10s twice over is 450,000 spans, 879 MiB at 2,048 bytes each, plus 150 MiB .*; set at least 1,728 or remove the key/,
    );
  });
});

describe('queues from the load and the outage they ride out', () => {
  it('each exporter queue holds the outage at its signal rate, within the volume', () => {
    const sized = sizeCollectors(
      input({
        mode: 'single',
        spans: 20_000,
        logs: 2_000,
        points: 1_000,
        queue: { persistent: true, outageMs: 600_000, volume: '40Gi' },
      }),
    );
    expect(sized.findings).toEqual([]);
    expect(sized.queueItems.processing.traces).toBeGreaterThanOrEqual(20_000 * 600);
    expect(sized.queueItems.processing.traces).toBeLessThan(20_000 * 600 + QUEUE_BATCH_ITEMS);
    // below the floor the floor stays: what every spec had before sizing
    expect(sized.queueItems.processing.logs).toBe(MIN_QUEUE_BATCHES * QUEUE_BATCH_ITEMS);
  });

  it('an outage the volume cannot hold is warned and the queues shrink to it', () => {
    const sized = sizeCollectors(
      input({ mode: 'single', spans: 20_000, queue: { persistent: true, outageMs: 600_000, volume: '5Gi' } }),
    );
    const finding = sized.findings.find((f) => f.path.join('.') === 'kubernetes.storage.collector_queue')!;
    expect(finding.message).toContain('queues 11.4 GiB on the Collector');
    expect(finding.message).toContain(
      'raise it to 12Gi, remove it to size it from the load, or shorten the outage',
    );
    expect(sized.queueItems.processing.traces * 1024).toBeLessThanOrEqual(5 * 2 ** 30);
  });

  it('in-memory queues are bounded by the memory beside the buffer, and warned', () => {
    const sized = sizeCollectors(
      input({
        mode: 'single',
        spans: 1000,
        logs: 1000,
        points: 1000,
        queue: { persistent: false, outageMs: 600_000, volume: '2Gi' },
      }),
    );
    const finding = sized.findings.find((f) => f.path.join('.') === 'collector.persistent_queue.enabled')!;
    expect(finding.message).toMatch(
      /^in-memory queues hold about \d+ seconds of 1,000 spans\/s .* in the 512 MiB/,
    );
    expect(finding.message).toContain('enable the persistent queue or raise collector.memory_limit_mib');
  });

  it('the queue volume, where the spec sets none, is what the outage fills on each gateway', async () => {
    const sized = sizeCollectors(input({ spans: 60_000, queue: { persistent: true, outageMs: 600_000 } }));
    expect(sized.findings).toEqual([]);
    // 20,000 spans/s on each of three gateways for 600 s at 1 KiB: 11.4 GiB
    expect(sized.queueVolume).toBe('12Gi');
    expect(sizeCollectors(input({ spans: 100 })).queueVolume).toBe('2Gi');
    const { model, warnings } = await gatewaySpec(
      '  mode: gateway\n  expected_load:\n    spans_per_second: 60000\n    log_records_per_second: 0\n    data_points_per_second: 0\n',
    );
    expect(warnings).toEqual([]);
    const claim = gatewayResource(model).spec.volumeClaimTemplates[0];
    expect(claim.spec.resources.requests.storage).toBe('12Gi');
  });

  it('a queue_size set in the spec wins, and is warned when it cannot ride out the outage', () => {
    const sized = sizeCollectors(input({ mode: 'single', spans: 10_000, explicit: { queueBatches: 1000 } }));
    expect(sized.queueItems.processing.traces).toBe(1000 * QUEUE_BATCH_ITEMS);
    const finding = sized.findings.find((f) => f.path.join('.') === 'collector.persistent_queue.queue_size')!;
    expect(finding.message).toMatch(
      /^1,000 batches \(512,000 items\) per exporter hold 51 seconds of the busiest exporter's 10,000 items\/s .*set at least 11,719/,
    );
  });

  it('the Collector configs carry the sized queues per exporter', async () => {
    const { model } = await gatewaySpec(
      '  mode: gateway\n  expected_load:\n    spans_per_second: 30000\n    log_records_per_second: 0\n    data_points_per_second: 0\n',
      'kubernetes:\n  storage:\n    collector_queue: 40Gi\n',
    );
    const configs = collectorConfigs(model) as unknown as { main: Json; gateway: Json };
    const queueOf = (config: Json, exporter: string) => config.exporters[exporter].sending_queue.queue_size;
    // each of two gateways takes half the spans; the one agent of compose takes all of them
    const batches = (items: number) => Math.ceil(items / QUEUE_BATCH_ITEMS) * QUEUE_BATCH_ITEMS;
    expect(queueOf(configs.gateway, 'otlp_grpc/tempo')).toBe(batches(15_000 * 600));
    expect(queueOf(configs.main, 'load_balancing')).toBe(batches(30_000 * 600));
    expect(queueOf(configs.gateway, 'otlp_http/loki')).toBe(MIN_QUEUE_BATCHES * QUEUE_BATCH_ITEMS);
  });
});

describe('the examples', () => {
  it.each(['shop', 'gateway'])(
    '%s declares values its default load needs no warning about',
    async (example) => {
      const text = await readFile(path.join(REPO, 'examples', example, 'otelkit.yaml'), 'utf8');
      const parsed = parseYamlSpec(text, 'otelkit.yaml');
      const { warnings, spec } = validateLoaded(parsed.loaded!, 'otelkit.yaml');
      expect(warnings).toEqual([]);
      expect((load(text) as Json).collector.expected_load).toBeUndefined();
      expect(spec.collector.expected_load.spans_per_second).toBe(1000);
    },
  );
});
