/**
 * Handler types for the gRPC services, derived from the generated service
 * descriptors so every handler is checked against the proto. Services map
 * wire messages to broker calls and throw `BasilError`s; they never touch
 * grpc-js or build statuses (lib/transport does).
 * @module
 */

import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { PeerIdentity } from "../policy/pdp.ts";

/** What a handler knows about the call besides the request. */
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

type MethodShape = { methodKind: string; input: DescMessage; output: DescMessage };

/** The handler type for one method. */
export type Handler<M> = M extends
  { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (req: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>>
  : M extends {
    methodKind: "server_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? (
      req: MessageShape<I>,
      ctx: CallContext,
      send: (msg: MessageInitShape<O>) => Promise<void>,
    ) => Promise<void>
  : never;

/** Handlers for every method of a service, keyed by the method's local name. */
export type ServiceHandlers<S extends DescService> = S extends { method: infer Ms }
  ? { [K in keyof Ms]: Ms[K] extends MethodShape ? Handler<Ms[K]> : never }
  : never;

/** A service descriptor with its handlers, ready for the transport. */
export interface ServiceBinding {
  readonly service: DescService;
  /** Handlers by method local name. */
  readonly handlers: Readonly<Record<string, unknown>>;
  /** SPIFFE and SDS services answer with plain statuses, without BrokerErrorInfo. */
  readonly plainErrors: boolean;
}

/** Binds handlers to a service, checked against the descriptor's types. */
export function bindService<S extends DescService>(
  service: S,
  handlers: ServiceHandlers<S>,
  options: { plainErrors?: boolean } = {},
): ServiceBinding {
  return {
    service,
    handlers: handlers as unknown as Record<string, unknown>,
    plainErrors: options.plainErrors ?? false,
  };
}
