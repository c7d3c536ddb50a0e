import { context, metrics, propagation, trace, logs, type Attributes } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { EnterableContextManager } from './context.ts';
import { CONCURRENCY_LIMIT, logExporter, metricExporter, otlpOptions, spanRedaction } from './exporters.ts';
import { DurationHistogram } from './histogram.ts';
import { instrumentHttp } from './http.ts';
import { instrumentLibraries } from './libraries.ts';
import { captureConsole, createLogSink } from './logs.ts';
import { createRedactor } from './redact.ts';
import { createSampler } from './sampler.ts';
import { DEFAULT_SETTINGS, type PreloadSettings } from './settings.ts';
import { EagerSpanProcessor, loadSpanTransport } from './span-export.ts';
import { LeanTracerProvider } from './tracer.ts';

export { mintDebugToken, verifyDebugToken, MAX_DEBUG_TOKEN_TTL_MS, DEBUG_SECRET_ENV } from './debug-token.ts';
export { createPathNormaliser } from './routes.ts';
export { createRedactor, re2ToRegExp, REDACTED } from './redact.ts';
export type { PreloadSettings } from './settings.ts';

const SCOPE = 'otelkit-preload';
let started = false;

function warnOnce() {
  const seen = new Set<string>();
  return (message: string) => {
    if (seen.has(message)) return;
    seen.add(message);
    process.stderr.write(`otelkit: ${message}\n`);
  };
}

const positive = (text: string | undefined, fallback: number) => {
  const value = Number(text);
  return text && Number.isFinite(value) && value > 0 ? value : fallback;
};

/**
 * Starts traces, metrics and logs for this process. Never throws and never blocks: a bad setting
 * or an unreachable Collector costs one warning on stderr, and the app keeps serving.
 */
export function start(given: Partial<PreloadSettings> = {}, env: NodeJS.ProcessEnv = process.env): void {
  if (started) return;
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return;
  started = true;
  const warn = warnOnce();
  try {
    startUnsafe({ ...DEFAULT_SETTINGS, ...given }, env, warn);
  } catch (error) {
    warn(`telemetry disabled, the preload could not start: ${(error as Error).message}`);
  }
}

function startUnsafe(settings: PreloadSettings, env: NodeJS.ProcessEnv, warn: (message: string) => void) {
  const redactor = createRedactor(settings.redaction.blockedKeys, settings.redaction.valuePatterns);
  let collectorWarned = false;
  const exportFailed = (signal: string) => (error: unknown) => {
    if (collectorWarned) return;
    collectorWarned = true;
    warn(
      `cannot export ${signal} to the Collector (${(error as Error)?.message ?? 'unknown error'}); ` +
        'the app keeps running, telemetry is dropped until it is reachable',
    );
  };

  const resource = resourceFromAttributes({
    'service.name': settings.service,
    'service.namespace': settings.project,
    'deployment.environment.name': settings.environment,
  }).merge(
    // env last so OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; no cloud detectors, so no metadata probes
    detectResources({ detectors: [hostDetector, osDetector, processDetector, envDetector] }),
  );

  const contextManager = new EnterableContextManager();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );

  const traceOptions = otlpOptions('traces', settings, env, warn);
  const tracerProvider = new LeanTracerProvider({
    resource,
    sampler: createSampler(settings, env, warn),
    processor: new EagerSpanProcessor({
      json: traceOptions.protocol === 'http/json',
      resource,
      load: () => loadSpanTransport(traceOptions, CONCURRENCY_LIMIT),
      prepare: spanRedaction(redactor),
      onFailure: exportFailed('traces'),
      scheduledDelayMillis: positive(env.OTEL_BSP_SCHEDULE_DELAY, 5000),
      maxQueueSize: positive(env.OTEL_BSP_MAX_QUEUE_SIZE, 2048),
      maxExportBatchSize: positive(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512),
      exportTimeoutMillis: positive(env.OTEL_BSP_EXPORT_TIMEOUT, 30000),
    }),
    limits: {
      attributeCount: positive(env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT ?? env.OTEL_ATTRIBUTE_COUNT_LIMIT, 128),
      eventCount: positive(env.OTEL_SPAN_EVENT_COUNT_LIMIT, 128),
      linkCount: positive(env.OTEL_SPAN_LINK_COUNT_LIMIT, 128),
    },
  });
  trace.setGlobalTracerProvider(tracerProvider);

  const bucketsSeconds = (settings.histogramBucketsMs ?? [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]).map(
    (ms) => ms / 1000,
  );
  const duration = new DurationHistogram(bucketsSeconds, SCOPE);
  const exportInterval = positive(env.OTEL_METRIC_EXPORT_INTERVAL, 60000);
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: metricExporter(otlpOptions('metrics', settings, env, warn), exportFailed('metrics')),
        exportIntervalMillis: exportInterval,
        // the SDK refuses a timeout longer than the interval; a short interval must not disable metrics
        exportTimeoutMillis: Math.min(positive(env.OTEL_METRIC_EXPORT_TIMEOUT, 30000), exportInterval),
        metricProducers: [duration],
      }),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);

  const loggerProvider = new LoggerProvider({
    resource,
    processors: [
      new BatchLogRecordProcessor({
        exporter: logExporter(otlpOptions('logs', settings, env, warn), redactor, exportFailed('logs')),
        scheduledDelayMillis: positive(env.OTEL_BLRP_SCHEDULE_DELAY, 1000),
        maxQueueSize: positive(env.OTEL_BLRP_MAX_QUEUE_SIZE, 1024),
        maxExportBatchSize: positive(env.OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, 128),
      }),
    ],
  });
  logs.setGlobalLoggerProvider(loggerProvider);

  const sink = createLogSink(settings, loggerProvider.getLogger(SCOPE), redactor);
  const audit = (message: string, attributes: Attributes) => sink.write('info', 'otelkit.audit', message, attributes, 'audit');
  captureConsole(sink, redactor);

  const meter = meterProvider.getMeter(SCOPE);
  instrumentHttp({
    tracer: tracerProvider.getTracer(SCOPE),
    duration,
    debugRejected: meter.createCounter('otelkit.debug_token.rejected', {
      description: 'X-Debug-Token headers that were invalid or expired and were ignored.',
    }),
    contextManager,
    settings,
    env,
    audit,
    redactText: redactor.text,
  });
  instrumentLibraries(settings.module === 'esm', warn, sink);

  let flushed: Promise<void> | undefined;
  const shutdown = () => {
    flushed ??= Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]).then(
      () => undefined,
    );
    return flushed;
  };
  installShutdown(shutdown, settings.shutdownTimeoutMs ?? 3000);
}

/**
 * Flush on SIGTERM/SIGINT and when the loop drains, bounded so a dead Collector cannot hold the
 * process. Listening to a signal disables Node's default exit, so when the app has no handler of its
 * own the signal is re-raised after the flush: the exit status is what it would be without us.
 */
function installShutdown(shutdown: () => Promise<void>, timeoutMs: number) {
  const bounded = () =>
    Promise.race([
      shutdown().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(resolve, timeoutMs, false).unref()),
    ]);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      const appHandlesIt = process.listenerCount(signal) > 1;
      void bounded().then(() => {
        if (appHandlesIt) return;
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
  process.once('beforeExit', () => {
    void bounded().then((complete) => {
      // pending exporter retries would otherwise hold the process well past its natural end
      if (!complete) process.exit();
    });
  });
}
