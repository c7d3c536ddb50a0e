import type { ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableLogRecord, LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { PreloadSettings } from '../settings.ts';

/**
 * OTLP exporters, loaded on first export rather than at start-up (they are the heaviest modules and
 * the first batch leaves seconds after the app is up), and warning once, not per batch, when the Collector cannot be reached.
 */

type Signal = 'traces' | 'metrics' | 'logs';
type Env = Readonly<Record<string, string | undefined>>;

export interface OtlpOptions {
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  protocol: 'http/protobuf' | 'http/json';
}

/** Standard OTEL_EXPORTER_OTLP_* variables first, then the generated settings, as the spec requires. */
export function otlpOptions(signal: Signal, settings: PreloadSettings, env: Env, warn: (m: string) => void) {
  const upper = signal.toUpperCase();
  const signalEndpoint = env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`];
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT || settings.endpoint).replace(/\/+$/, '');
  const url = signalEndpoint || `${base}/v1/${signal}`;
  const headers: Record<string, string> = {};
  for (const source of [env.OTEL_EXPORTER_OTLP_HEADERS, env[`OTEL_EXPORTER_OTLP_${upper}_HEADERS`]]) {
    for (const pair of (source ?? '').split(',')) {
      const at = pair.indexOf('=');
      if (at > 0)
        headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    }
  }
  const requested =
    env[`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`] || env.OTEL_EXPORTER_OTLP_PROTOCOL || settings.protocol;
  let protocol: OtlpOptions['protocol'] = 'http/protobuf';
  if (requested === 'http/json') protocol = 'http/json';
  else if (requested && requested !== 'http/protobuf') {
    warn(
      `OTEL_EXPORTER_OTLP_PROTOCOL=${requested} is not supported by the otelkit preload; using http/protobuf`,
    );
  }
  const timeout = Number(
    env[`OTEL_EXPORTER_OTLP_${upper}_TIMEOUT`] || env.OTEL_EXPORTER_OTLP_TIMEOUT || 10000,
  );
  return { url, headers, protocol, timeoutMillis: Number.isFinite(timeout) && timeout > 0 ? timeout : 10000 };
}

interface Exporter<T> {
  export(items: T, done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

class LazyExporter<T> {
  private loaded: Promise<Exporter<T>> | undefined;

  private readonly load: () => Promise<Exporter<T>>;
  private readonly onFailure: (error: unknown) => void;
  private readonly handOff: boolean;

  /**
   * With `handOff`, a batch counts as done once the OTLP exporter has encoded it: the processor
   * moves on and the batch's objects can die young, instead of living (and being promoted into
   * the old heap) for the whole round trip. The OTLP exporter bounds the requests in flight, and
   * shutdown and forceFlush still wait for them.
   */
  constructor(load: () => Promise<Exporter<T>>, onFailure: (error: unknown) => void, handOff: boolean) {
    this.load = load;
    this.onFailure = onFailure;
    this.handOff = handOff;
  }

  export(items: T, done: (result: ExportResult) => void): void {
    this.loaded ??= this.load();
    this.loaded.then(
      (exporter) => {
        if (this.handOff) {
          const onFailure = this.onFailure;
          exporter.export(items, (result) => {
            if (result.code !== 0) onFailure(result.error);
          });
          done({ code: 0 });
          return;
        }
        exporter.export(items, (result) => {
          if (result.code !== 0) this.onFailure(result.error);
          done(result);
        });
      },
      (error: unknown) => {
        this.onFailure(error);
        done({ code: 1, error: error as Error });
      },
    );
  }

  async shutdown() {
    if (this.loaded) await (await this.loaded).shutdown();
  }

  async forceFlush() {
    if (this.loaded) await (await this.loaded).forceFlush?.();
  }
}

/** Encoded batches in flight per signal; beyond this a batch is dropped (and warned about once). */
export const CONCURRENCY_LIMIT = 8;

export function logExporter(options: OtlpOptions, onFailure: (e: unknown) => void) {
  const { protocol, ...config } = options;
  const load = async () => {
    const module =
      protocol === 'http/json'
        ? await import('@opentelemetry/exporter-logs-otlp-http')
        : await import('@opentelemetry/exporter-logs-otlp-proto');
    return new module.OTLPLogExporter({ ...config, concurrencyLimit: CONCURRENCY_LIMIT }) as Exporter<
      ReadableLogRecord[]
    >;
  };
  return new LazyExporter(load, onFailure, true) as unknown as LogRecordExporter;
}

export function metricExporter(options: OtlpOptions, onFailure: (e: unknown) => void): PushMetricExporter {
  const { protocol, ...config } = options;
  // Prometheus's OTLP receiver rejects delta sums, so cumulative regardless of the exporter default.
  const temporalityPreference = AggregationTemporality.CUMULATIVE;
  const load = async () => {
    const module =
      protocol === 'http/json'
        ? await import('@opentelemetry/exporter-metrics-otlp-http')
        : await import('@opentelemetry/exporter-metrics-otlp-proto');
    return new module.OTLPMetricExporter({ ...config, temporalityPreference }) as Exporter<ResourceMetrics>;
  };
  const lazy = new LazyExporter<ResourceMetrics>(load, onFailure, false);
  return Object.assign(lazy, {
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  }) as unknown as PushMetricExporter;
}
