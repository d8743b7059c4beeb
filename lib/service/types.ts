/**
 * Handler types for the gRPC services, derived from the generated service
 * descriptors so every handler is checked against the proto. Services map
 * wire messages to broker calls and throw `BasilError`s; they never touch
 * grpc-js or build statuses (lib/transport does).
 *
 * Two layers: {@linkcode bindService} binds handlers that see only what the
 * transport provides ({@linkcode CallContext}); {@linkcode bindBrokerService}
 * wraps every handler of a broker-facing service so it runs inside one
 * audited request (lib/broker/call.ts: `runCall` for unary methods,
 * `runStream` for server and bidirectional streams) and receives that request's
 * {@linkcode BrokerContext.call}, the handle every broker operation takes.
 * The request's audit records are written there, once, from the handler's
 * final result: a service cannot forget them.
 * @module
 */

import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { runCall, runStream } from "../broker/call.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { PeerIdentity } from "../policy/pdp.ts";

/** What a handler knows about the call besides the request (provided by the transport). */
export interface CallContext {
  /** Kernel-attested peer, or undefined when the kernel reported none. */
  readonly peer: PeerIdentity | undefined;
  /** Values of a request metadata key (ASCII headers only). */
  metadata(name: string): string[];
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
  /** Runs `fn` after the response has been serialized (e.g. to wipe secrets). */
  defer(fn: () => void): void;
}

/** A broker-facing handler's context: the transport's, plus the audited request. */
export interface BrokerContext extends CallContext {
  /** The request every broker operation of this call takes. */
  readonly call: BrokerCall;
}

type MethodShape = { methodKind: string; input: DescMessage; output: DescMessage };

/** The handler type for one method, given its context type. */
export type Handler<M, C = CallContext> = M extends
  { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (req: MessageShape<I>, ctx: C) => Promise<MessageInitShape<O>>
  : M extends {
    methodKind: "server_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? (
      req: MessageShape<I>,
      ctx: C,
      send: (msg: MessageInitShape<O>) => Promise<void>,
    ) => Promise<void>
  : M extends {
    methodKind: "bidi_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? (
      req: MessageShape<I>,
      ctx: C,
      send: (msg: MessageInitShape<O>) => Promise<void>,
      /**
       * The client's later messages, ending when it half-closes. A message's
       * bytes fields are valid until the next one is asked for.
       */
      requests: AsyncIterable<MessageShape<I>>,
    ) => Promise<void>
  : never;

/** Handlers for every method of a service, keyed by the method's local name. */
export type ServiceHandlers<S extends DescService, C = CallContext> = S extends { method: infer Ms }
  ? { [K in keyof Ms]: Ms[K] extends MethodShape ? Handler<Ms[K], C> : never }
  : never;

/** A service descriptor with its handlers, ready for the transport. */
export interface ServiceBinding {
  readonly service: DescService;
  /** Handlers by method local name. */
  readonly handlers: Readonly<Record<string, unknown>>;
  /** SPIFFE and SDS services answer with plain statuses, without BrokerErrorInfo. */
  readonly plainErrors: boolean;
}

/** Options shared by the binders. */
export interface BindOptions {
  /** Answer with plain statuses, without BrokerErrorInfo (SPIFFE, SDS). */
  readonly plainErrors?: boolean;
}

/** Binds handlers to a service, checked against the descriptor's types. */
export function bindService<S extends DescService>(
  service: S,
  handlers: ServiceHandlers<S>,
  options: BindOptions = {},
): ServiceBinding {
  return {
    service,
    handlers: handlers as unknown as Record<string, unknown>,
    plainErrors: options.plainErrors ?? false,
  };
}

type UnaryFn = (req: unknown, ctx: BrokerContext) => Promise<unknown>;
type StreamFn = (
  req: unknown,
  ctx: BrokerContext,
  send: (msg: unknown) => Promise<void>,
  requests?: AsyncIterable<unknown>,
) => Promise<void>;

/** The transport's context plus `call`. */
function withCall(ctx: CallContext, call: BrokerCall): BrokerContext {
  return {
    peer: ctx.peer,
    metadata: (name) => ctx.metadata(name),
    signal: ctx.signal,
    defer: (fn) => ctx.defer(fn),
    call,
  };
}

/**
 * Binds handlers of a broker-facing service: each runs as one audited
 * request (see the module doc), with the transport's context unchanged
 * beside the request's `call`.
 */
export function bindBrokerService<S extends DescService>(
  deps: BrokerDeps,
  service: S,
  handlers: ServiceHandlers<S, BrokerContext>,
  options: BindOptions = {},
): ServiceBinding {
  const given = handlers as unknown as Record<string, UnaryFn | StreamFn>;
  const wrapped: Record<string, unknown> = {};
  for (const method of service.methods) {
    const h = given[method.localName];
    if (typeof h !== "function") continue; // the transport refuses a binding with a gap
    wrapped[method.localName] = method.methodKind !== "unary"
      ? (
        req: unknown,
        ctx: CallContext,
        send: (msg: unknown) => Promise<void>,
        requests?: AsyncIterable<unknown>,
      ) =>
        runStream(
          deps,
          ctx.peer,
          ctx.signal,
          send,
          (call, settlingSend) => (h as StreamFn)(req, withCall(ctx, call), settlingSend, requests),
        )
      : (req: unknown, ctx: CallContext) =>
        runCall(deps, ctx.peer, ctx.signal, (call) => (h as UnaryFn)(req, withCall(ctx, call)));
  }
  return { service, handlers: wrapped, plainErrors: options.plainErrors ?? false };
}
