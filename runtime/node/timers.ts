/**
 * Injected by scripts/bundle-preload.ts in place of the global setTimeout for every module of the
 * bundle (the SDK's processors, export timeouts and the OTLP exporter's retries among them): no
 * timer of the telemetry keeps the app's process alive. With the Collector down, the exporter's
 * retries (1 s, 1.5 s, 2.25 s... up to the 10 s export timeout) held a script that had finished, or
 * an app that closed its server on SIGTERM, for 9 to 11 s. How long the process waits for its
 * telemetry is the bounded flush's to decide (index.ts), with the one timer it arms through
 * `globalThis.setTimeout`, which this does not replace.
 */
export function setTimeout<A extends unknown[]>(
  callback: (...args: A) => void,
  ms?: number,
  ...args: A
): NodeJS.Timeout {
  const timer = globalThis.setTimeout(callback, ms, ...args);
  timer.unref();
  return timer;
}
