/**
 * How big the Collectors are made for the load the spec declares (collector.expected_load): how
 * many gateways, how much memory, how long a queue. The model applies this once; compose, the
 * Kubernetes output and the Collector configs read the sized values, and validate and generate
 * print the findings. Values the spec sets itself win, and are checked against the same figures.
 */

/**
 * What one Collector carries, measured by `npm run bench:collector` (bench/collector.ts): the
 * Collector built from the generated manifest running the shop example's generated pipeline
 * (memory limiter, resource detection, route transform, redaction, span metrics, both tail
 * samplers, batching exporters with a persistent queue), pinned to one core of a 2-core x86 VM
 * (Intel Xeon), telemetrygen on the other, 2026-12-02: 30,000-35,000 accepted spans per CPU second
 * with nothing refused, failed or evicted undecided (0.55-0.65 of the same binary on a bare
 * otlp -> otlp pipeline, ~55,000). The lower end is the figure; a replica is planned at one core.
 */
export const MEASURED_SPANS_PER_CORE = 30_000;
export const MEASURED_BY = 'bench:collector, generated pipeline on one core of a 2-core x86 VM, 2026-12';

/**
 * A log record and a data point cost less than a span: they skip span metrics and tail sampling.
 * `BENCH_SIGNALS=traces,logs,metrics npm run bench:collector` (2026-12-02, two runs on the same
 * VM while other builds ran, so the figures are low) gave per CPU second at 2,000 items/s each:
 * 18,540-20,810 spans, 25,361-27,138 log records, 41,252-45,421 data points; a log record ~0.75
 * of a span, a data point ~0.45. Each still counts as one span: those runs were too noisy to
 * plan by, and overstating them errs towards one gateway more.
 */
export const SPANS_PER_LOG_RECORD = 1;
export const SPANS_PER_DATA_POINT = 1;

/** Share of the measured capacity a replica is planned at: room for bursts and a slower node. */
export const CAPACITY_HEADROOM = 0.8;

/** Gateway mode keeps two gateways at least, so one can restart while the other samples. */
export const MIN_GATEWAY_REPLICAS = 2;
/**
 * Most gateways the kit generates: each is a named compose service and a Prometheus scrape target,
 * and past this a load belongs to more than one stack (or to sampling in the SDKs).
 */
export const MAX_GATEWAY_REPLICAS = 16;

/**
 * The memory limiter refuses data above limit_mib - spike_limit_mib; limit_mib is this share of
 * the process limit and the spike allowance this share of limit_mib (collector.ts reads both).
 */
export const MEMORY_LIMITER_SHARE = 0.8;
export const MEMORY_SPIKE_SHARE = 0.25;
const SOFT_LIMIT_SHARE = MEMORY_LIMITER_SHARE * (1 - MEMORY_SPIKE_SHARE);

/**
 * What a span the tail samplers hold costs in resident memory: bench:collector's held_span_bytes
 * (the resident growth over its first traces step, whose spans the decision wait still holds)
 * was 1,776 and 2,078 bytes in two runs, 2026-12-02. telemetrygen's spans carry few attributes;
 * spans with dozens take more, which the memory limiter's spike allowance and the base below
 * absorb up to a point. The Collector itself, pipeline built, idled at 76-80 MiB resident and
 * peaked at 160-184 MiB under the bench: 150 MiB is planned for it beside the buffer.
 */
export const SPAN_HEAP_BYTES = 2048;
export const COLLECTOR_BASE_MIB = 150;
/** The smallest limit the kit sets: what every spec got before sizing existed. */
export const MIN_MEMORY_LIMIT_MIB = 512;
/**
 * Room for bursts above the expected peak: the tail samplers hold every trace of one decision
 * wait twice over (sampling.ts), and the memory for them is sized the same.
 */
export const TAIL_SAMPLING_HEADROOM = 2;
/** Kubernetes and compose limits are set in steps of this much. */
const MEMORY_STEP_MIB = 64;

/** One queue batch: the exporters' batch min_size, the unit collector.persistent_queue.queue_size counts in. */
export const QUEUE_BATCH_ITEMS = 512;
/** The smallest queue the kit sets, in batches per exporter: what every spec got before sizing existed. */
export const MIN_QUEUE_BATCHES = 5000;

/**
 * Stated, not measured (conservative): what one queued item takes, on disk (file_storage keeps
 * each request as OTLP protobuf in bbolt) and in memory (pdata).
 */
export const ITEM_BYTES = {
  disk: { span: 1024, logRecord: 1024, dataPoint: 256 },
  memory: { span: SPAN_HEAP_BYTES, logRecord: SPAN_HEAP_BYTES, dataPoint: 512 },
} as const;

export interface LoadModel {
  spansPerSecond: number;
  /** Average spans per trace: spansPerSecond / spansPerTrace traces start each second. */
  spansPerTrace: number;
  logRecordsPerSecond: number;
  dataPointsPerSecond: number;
}

/** Items per exporter queue of each Collector role (queue_size of its sending_queue, sizer items). */
export interface QueueItems {
  /** The single Collector, or each gateway: its Tempo, Prometheus and Loki exporters. */
  processing: { traces: number; metrics: number; logs: number };
  /** Gateway mode's agent: the load-balancing exporter (spans) and the gateway exporter (the rest). */
  agent: { traces: number; telemetry: number };
}

export interface CollectorSizing {
  gatewayReplicas: number;
  memoryLimitMib: number;
  queueItems: QueueItems;
  /** The single Collector's or each gateway's queue volume claim, a Kubernetes quantity. */
  queueVolume: string;
  /** Where the declared load and the configuration disagree; warnings, never errors. */
  findings: SizingFinding[];
}

export interface SizingFinding {
  /** The spec key the finding is about, e.g. ['collector', 'gateway_replicas']. */
  path: (string | number)[];
  message: string;
}

export interface SizingInput {
  mode: 'single' | 'gateway';
  load: LoadModel;
  /** How long the tail samplers hold a trace (sampling.ts). */
  decisionWaitMs: number;
  /** What the spec sets itself; undefined where it leaves the value to sizing. */
  explicit: {
    gatewayReplicas?: number | undefined;
    memoryLimitMib?: number | undefined;
    queueBatches?: number | undefined;
  };
  queue: {
    persistent: boolean;
    /** The backend outage the exporter queues hold the load through. */
    outageMs: number;
    /** Each single or gateway Collector's queue volume, if the spec sets it (kubernetes.storage.collector_queue). */
    volume?: string | undefined;
  };
}

const n = (value: number) => Math.round(value).toLocaleString('en-US');
const MIB = 1024 * 1024;

/** Spans per second one replica is planned to carry. */
export const SPANS_PER_REPLICA = MEASURED_SPANS_PER_CORE * CAPACITY_HEADROOM;
const FIGURE = `${n(SPANS_PER_REPLICA)} spans/s per replica (${CAPACITY_HEADROOM * 100}% of ${n(MEASURED_SPANS_PER_CORE)} per core, ${MEASURED_BY})`;

/** The load in spans: log records and data points at their span cost. */
export function spanEquivalents(load: LoadModel): number {
  return (
    load.spansPerSecond +
    load.logRecordsPerSecond * SPANS_PER_LOG_RECORD +
    load.dataPointsPerSecond * SPANS_PER_DATA_POINT
  );
}

/** Traces that start each second, all services together. */
export function tracesPerSecond(load: LoadModel): number {
  return Math.ceil(load.spansPerSecond / load.spansPerTrace);
}

/** Processing Collectors the load needs: replicas = ceil(load / (per-replica capacity × headroom)). */
export function replicasNeeded(load: LoadModel): number {
  return Math.max(1, Math.ceil(spanEquivalents(load) / SPANS_PER_REPLICA));
}

function describeLoad(load: LoadModel): string {
  const parts = [`${n(load.spansPerSecond)} spans/s`];
  if (load.logRecordsPerSecond) parts.push(`${n(load.logRecordsPerSecond)} log records/s`);
  if (load.dataPointsPerSecond) parts.push(`${n(load.dataPointsPerSecond)} data points/s`);
  const total = spanEquivalents(load);
  return parts.length === 1
    ? parts[0]!
    : `${parts.join(' + ')} (${n(total)} spans/s, each log record and data point counted as a span)`;
}

/** Bytes of a Kubernetes quantity such as "2Gi" or "500M" (the schema checked its form). */
export function quantityBytes(quantity: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity);
  if (!match) throw new Error(`not a Kubernetes quantity: ${quantity}`);
  const factor = {
    '': 1,
    m: 0.001,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: MIB,
    Gi: 1024 * MIB,
    Ti: 1024 * 1024 * MIB,
  }[match[2] ?? ''];
  return Number(match[1]) * factor!;
}

const roundUp = (value: number, step: number) => Math.ceil(value / step) * step;
const minutes = (seconds: number) =>
  seconds >= 120 ? `${n(seconds / 60)} minutes` : `${n(seconds)} seconds`;

function sizeReplicas(input: SizingInput, findings: SizingFinding[]): number {
  const needed = replicasNeeded(input.load);
  const load = describeLoad(input.load);
  if (input.mode === 'single') {
    if (needed > 1) {
      findings.push({
        path: ['collector', 'expected_load'],
        message:
          `${load} needs ${needed} Collectors at ${FIGURE}, and single mode runs one; ` +
          (needed <= MAX_GATEWAY_REPLICAS
            ? `set collector.mode: gateway (sized to ${Math.max(MIN_GATEWAY_REPLICAS, needed)} gateway replicas)`
            : `that is more than the ${MAX_GATEWAY_REPLICAS} gateways gateway mode generates, so split the stack or sample in the SDKs`),
      });
    }
    return (
      input.explicit.gatewayReplicas ?? Math.min(MAX_GATEWAY_REPLICAS, Math.max(MIN_GATEWAY_REPLICAS, needed))
    );
  }
  if (needed > MAX_GATEWAY_REPLICAS) {
    findings.push({
      path: ['collector', 'expected_load'],
      message:
        `${load} needs ${needed} gateway replicas at ${FIGURE}, more than the ${MAX_GATEWAY_REPLICAS} the kit generates ` +
        `(they carry ${n(MAX_GATEWAY_REPLICAS * SPANS_PER_REPLICA)} spans/s); split the stack by service or sample in the SDKs`,
    });
  }
  const explicit = input.explicit.gatewayReplicas;
  if (explicit !== undefined && explicit < needed) {
    findings.push({
      path: ['collector', 'gateway_replicas'],
      message:
        `${explicit} gateway replicas carry ${n(explicit * SPANS_PER_REPLICA)} spans/s at ${FIGURE}, ` +
        `but collector.expected_load declares ${load}; set ${Math.min(needed, MAX_GATEWAY_REPLICAS)} or remove the key to size it from the load`,
    });
  }
  return explicit ?? Math.min(MAX_GATEWAY_REPLICAS, Math.max(MIN_GATEWAY_REPLICAS, needed));
}

/** Spans per second one tail-sampling Collector holds: the gateways share them by trace id. */
const samplingShare = (input: SizingInput, replicas: number) => (input.mode === 'gateway' ? replicas : 1);

function sizeMemory(input: SizingInput, replicas: number, findings: SizingFinding[]) {
  const spansPerCollector = input.load.spansPerSecond / samplingShare(input, replicas);
  const heldSpans = spansPerCollector * (input.decisionWaitMs / 1000) * TAIL_SAMPLING_HEADROOM;
  const bufferMib = (heldSpans * SPAN_HEAP_BYTES) / MIB;
  // the buffer and the Collector itself stay under the memory limiter's soft limit
  const needed = roundUp((COLLECTOR_BASE_MIB + bufferMib) / SOFT_LIMIT_SHARE, MEMORY_STEP_MIB);
  const explicit = input.explicit.memoryLimitMib;
  if (explicit !== undefined && explicit < needed) {
    findings.push({
      path: ['collector', 'memory_limit_mib'],
      message:
        `${n(explicit)} MiB cannot hold the tail samplers' buffer: ${n(spansPerCollector)} spans/s per Collector ` +
        `held ${n(input.decisionWaitMs / 1000)}s twice over is ${n(heldSpans)} spans, ${n(bufferMib)} MiB at ` +
        `${n(SPAN_HEAP_BYTES)} bytes each, plus ${COLLECTOR_BASE_MIB} MiB for the Collector, under the memory ` +
        `limiter's soft limit (${Math.round(SOFT_LIMIT_SHARE * 100)}% of the limit); set at least ${n(needed)} or remove the key to size it from the load`,
    });
  }
  return { limitMib: explicit ?? Math.max(MIN_MEMORY_LIMIT_MIB, needed), bufferMib };
}

interface QueueNeed {
  /** Items per second into this exporter. */
  rate: number;
  bytesPerItem: number;
}

/** The exporter queues of one Collector role, by the key QueueItems gives them. */
type RoleQueues<K extends string> = Record<K, QueueNeed>;

function queueNeeds(input: SizingInput, replicas: number) {
  const { load } = input;
  const bytes = ITEM_BYTES[input.queue.persistent ? 'disk' : 'memory'];
  const share = samplingShare(input, replicas);
  const processing: RoleQueues<keyof QueueItems['processing']> = {
    traces: { rate: load.spansPerSecond / share, bytesPerItem: bytes.span },
    metrics: { rate: load.dataPointsPerSecond / share, bytesPerItem: bytes.dataPoint },
    logs: { rate: load.logRecordsPerSecond / share, bytesPerItem: bytes.logRecord },
  };
  // compose runs one agent, which takes all of it; on Kubernetes each node's agent takes a share
  const telemetry = load.dataPointsPerSecond + load.logRecordsPerSecond;
  const agent: RoleQueues<keyof QueueItems['agent']> = {
    traces: { rate: load.spansPerSecond, bytesPerItem: bytes.span },
    telemetry: {
      rate: telemetry,
      bytesPerItem: telemetry
        ? (load.dataPointsPerSecond * bytes.dataPoint + load.logRecordsPerSecond * bytes.logRecord) /
          telemetry
        : bytes.dataPoint,
    },
  };
  return { processing, agent, bytes };
}

/** The queue volume when the spec sets none: what the outage fills, and no less than before sizing. */
export const MIN_QUEUE_VOLUME_GIB = 2;
const GIB = 1024 * MIB;

function sizeQueues(
  input: SizingInput,
  replicas: number,
  memory: { limitMib: number; bufferMib: number },
  findings: SizingFinding[],
): { items: QueueItems; volume: string } {
  const { load, queue } = input;
  const outageS = queue.outageMs / 1000;
  const { processing, agent, bytes } = queueNeeds(input, replicas);
  const outageBytes = (role: RoleQueues<string>) =>
    Object.values(role).reduce((sum, q) => sum + q.rate * outageS * q.bytesPerItem, 0);
  // the single Collector's or each gateway's claim: what the outage fills there, unless the spec sets it
  const volume =
    queue.volume ?? `${Math.max(MIN_QUEUE_VOLUME_GIB, Math.ceil(outageBytes(processing) / GIB))}Gi`;
  const roles = input.mode === 'gateway' ? [processing, agent] : [processing];
  const floor = MIN_QUEUE_BATCHES * QUEUE_BATCH_ITEMS;
  const explicitBatches = input.explicit.queueBatches;
  if (explicitBatches !== undefined) {
    const items = explicitBatches * QUEUE_BATCH_ITEMS;
    const busiest = Math.max(...roles.flatMap((role) => Object.values(role).map((q) => q.rate)));
    if (busiest * outageS > items) {
      findings.push({
        path: ['collector', 'persistent_queue', 'queue_size'],
        message:
          `${n(explicitBatches)} batches (${n(items)} items) per exporter hold ${minutes(items / busiest)} of the busiest ` +
          `exporter's ${n(busiest)} items/s (collector.expected_load), not the ${minutes(outageS)} of ` +
          `collector.persistent_queue.outage; set at least ${n(Math.ceil((busiest * outageS) / QUEUE_BATCH_ITEMS))} or remove the key to size it from the load`,
      });
    }
    return {
      items: {
        processing: { traces: items, metrics: items, logs: items },
        agent: { traces: items, telemetry: items },
      },
      volume,
    };
  }
  // What bounds a Collector's queues: the single Collector's and the gateways' claim (the agents'
  // queues are on their node's disk in Kubernetes and an unsized volume in compose), or without
  // the persistent queue the memory the memory limiter leaves beside the tail samplers.
  const memoryBytes = Math.max(
    0,
    (memory.limitMib * SOFT_LIMIT_SHARE - COLLECTOR_BASE_MIB - memory.bufferMib) * MIB,
  );
  const bound = (role: RoleQueues<string>) =>
    !queue.persistent ? memoryBytes : role === processing ? quantityBytes(volume) : Infinity;
  // each queue holds the outage at its rate, all of a Collector's queues within what bounds them
  const scaleOf = (role: RoleQueues<string>) => Math.min(1, bound(role) / outageBytes(role));
  const tightest = roles.reduce((worst, role) => (scaleOf(role) < scaleOf(worst) ? role : worst));
  const scale = scaleOf(tightest);
  if (scale < 1) {
    const held = minutes(outageS * scale);
    const where =
      tightest === agent ? 'the agent' : input.mode === 'gateway' ? 'each gateway' : 'the Collector';
    findings.push(
      queue.persistent
        ? {
            path: ['kubernetes', 'storage', 'collector_queue'],
            message:
              `an outage of ${minutes(outageS)} (collector.persistent_queue.outage) at ${describeLoad(load)} queues ` +
              `${(outageBytes(tightest) / GIB).toFixed(1)} GiB on ${where} (${n(bytes.span)} bytes a span or log record, ` +
              `${n(bytes.dataPoint)} a data point on disk), more than the ${volume} volume, which fills after about ${held}; ` +
              `raise it to ${Math.ceil(outageBytes(tightest) / GIB)}Gi, remove it to size it from the load, or shorten the outage`,
          }
        : {
            path: ['collector', 'persistent_queue', 'enabled'],
            message:
              `in-memory queues hold about ${held} of ${describeLoad(load)} on ${where} in the ${n(memory.limitMib)} MiB ` +
              `the Collector may use beside its tail samplers, not the ${minutes(outageS)} of collector.persistent_queue.outage; ` +
              `enable the persistent queue or raise collector.memory_limit_mib`,
          },
    );
  }
  // whole batches: up to the outage, down to what the bound holds
  const sized = (role: RoleQueues<string>, q: QueueNeed) => {
    const roleScale = scaleOf(role);
    const items = q.rate * outageS * roleScale;
    const batches =
      roleScale < 1 ? Math.floor(items / QUEUE_BATCH_ITEMS) : Math.ceil(items / QUEUE_BATCH_ITEMS);
    return Math.max(floor, batches * QUEUE_BATCH_ITEMS);
  };
  return {
    items: {
      processing: {
        traces: sized(processing, processing.traces),
        metrics: sized(processing, processing.metrics),
        logs: sized(processing, processing.logs),
      },
      agent: { traces: sized(agent, agent.traces), telemetry: sized(agent, agent.telemetry) },
    },
    volume,
  };
}

/** The sizing rule: replicas, then memory for their share, then queues within what bounds them. */
export function sizeCollectors(input: SizingInput): CollectorSizing {
  const findings: SizingFinding[] = [];
  const gatewayReplicas = sizeReplicas(input, findings);
  const memory = sizeMemory(input, gatewayReplicas, findings);
  const queues = sizeQueues(input, gatewayReplicas, memory, findings);
  return {
    gatewayReplicas,
    memoryLimitMib: memory.limitMib,
    queueItems: queues.items,
    queueVolume: queues.volume,
    findings,
  };
}
