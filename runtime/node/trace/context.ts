import { AsyncLocalStorage } from 'node:async_hooks';
import { RPCType } from '@opentelemetry/core';
import {
  ROOT_CONTEXT,
  createContextKey,
  type Context,
  type ContextManager,
  type Span,
} from '@opentelemetry/api';

/**
 * A context manager that can also *enter* a context. The server span is created from the
 * `http.server.request.start` diagnostics channel, which fires synchronously just before the
 * request handler runs; entering the context there makes it active for the handler and everything
 * it awaits, without wrapping `emit` on every server.
 */
export class EnterableContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    // Reflect.apply as the callback, with its arguments passed through run: no closure per call,
    // which on the request path (every request's handler runs through here) was garbage per request
    return this.storage.run(context, Reflect.apply, fn, thisArg, args) as ReturnType<F>;
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const { storage } = this;
    return function (this: unknown, ...args: unknown[]) {
      return storage.run(context, Reflect.apply, target as (...a: unknown[]) => unknown, this, args);
    } as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }

  enter(context: Context): void {
    this.storage.enterWith(context);
  }
}

/** Per-request facts every log line and span of the request carries. */
export interface RequestState {
  span: Span;
  requestId: string;
  frontend: string;
  debug: boolean;
  method: string;
  /** The request path without its query. */
  path: string;
  startedAt: number;
  /** The framework's own route template, when one reports it. */
  route: string | undefined;
  ended: boolean;
  /** The request's context, active while its handler runs. */
  context?: Context;
  /**
   * The SDK's RPC metadata for this request, made when an instrumentation first asks for it:
   * Koa's router reports its matched route there, as the stock HTTP instrumentation expects.
   */
  rpc?: { type: RPCType.HTTP; span: Span; route?: string };
}

export const REQUEST_STATE = createContextKey('otelkit.request');

/**
 * Errors thrown synchronously by a request's handler, with that request's context: Node reports
 * them as uncaught only after the throw has left the context, and their log record still needs
 * the request's request_id and trace_id.
 */
export const THROWN_IN = new WeakMap<object, Context>();

const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');
/** The key `@opentelemetry/core`'s getRPCMetadata reads. */
const RPC_METADATA_KEY = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');

/**
 * A request's context that reaches its span through the request state rather than holding it.
 * Timers created while the handler runs (the keep-alive timeout among them) keep the async frame,
 * and so this context, alive for seconds after the response; once the request finishes, the state
 * swaps its span for a bare span context, so those frames no longer pin finished spans in the
 * heap. Derived contexts are ordinary ones.
 */
export class RequestContext implements Context {
  private readonly parent: Context;
  private readonly state: RequestState;

  constructor(parent: Context, state: RequestState) {
    this.parent = parent;
    this.state = state;
  }

  getValue(key: symbol): unknown {
    if (key === SPAN_KEY) return this.state.span;
    if (key === REQUEST_STATE) return this.state;
    if (key === RPC_METADATA_KEY) return (this.state.rpc ??= { type: RPCType.HTTP, span: this.state.span });
    return this.parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return this.materialise().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return this.materialise().deleteValue(key);
  }

  private materialise(): Context {
    const { state } = this;
    const context = this.parent.setValue(SPAN_KEY, state.span).setValue(REQUEST_STATE, state);
    return state.rpc ? context.setValue(RPC_METADATA_KEY, state.rpc) : context;
  }
}
