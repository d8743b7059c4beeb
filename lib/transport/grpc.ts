/**
 * Adapts service bindings (generated descriptors + typed handlers) to the
 * transport's {@linkcode GrpcMethod}s. Requests are decoded here, so a
 * malformed message is INVALID_ARGUMENT with BrokerErrorInfo; responses are
 * encoded here, then the handler's deferred cleanups run (they wipe the
 * secrets the response object held; the encoded copy is the transport's,
 * which zeroes it once sent). Errors go through the one status table in
 * status.ts.
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import { invalidRequest } from "../core/errors.ts";
import type { BasilErrorCode } from "../core/errors.ts";
import type { Logger, LogLevel } from "../core/log.ts";
import type { CallContext, ServiceBinding } from "../service/types.ts";
import type { GrpcCall, GrpcMethod } from "./grpc_call.ts";
import { asBasilError, toStatusError } from "./status.ts";
import type { StatusError } from "./grpc_wire.ts";

/**
 * How loudly a failed request is logged (with its operator-only detail):
 * the agent's own faults as errors, a backend's as warnings (an operator
 * must see why Vault refused), everything else (denials, bad input) at debug.
 */
const LOG_LEVEL: Partial<Record<BasilErrorCode, LogLevel>> = {
  INTERNAL: "error",
  BACKEND_ERROR: "warn",
  BACKEND_UNAVAILABLE: "warn",
};

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

type UnaryFn = (req: unknown, ctx: CallContext) => Promise<unknown>;
type StreamFn = (
  req: unknown,
  ctx: CallContext,
  send: (msg: unknown) => Promise<void>,
) => Promise<void>;
type BidiFn = (
  req: unknown,
  ctx: CallContext,
  send: (msg: unknown) => Promise<void>,
  requests: AsyncIterable<unknown>,
) => Promise<void>;
type Fail = (e: unknown) => StatusError;

/** The methods of every binding, by path (`/package.Service/Method`). */
export function methodsOf(
  bindings: readonly ServiceBinding[],
  logger: Logger,
): Map<string, GrpcMethod> {
  const out = new Map<string, GrpcMethod>();
  for (const b of bindings) {
    for (const method of b.service.methods) {
      const handler = b.handlers[method.localName];
      if (typeof handler !== "function") {
        throw new TypeError(`Cannot bind ${b.service.typeName}: no handler for ${method.name}`);
      }
      const op = snake(method.name);
      const fail: Fail = (e) => {
        const err = asBasilError(e, op);
        if (err.code === "INTERNAL" || err.detail !== undefined) {
          logger.log(LOG_LEVEL[err.code] ?? "debug", "request failed", {
            op,
            code: err.code,
            detail: err.detail,
          });
        }
        return toStatusError(err, b.plainErrors);
      };
      const path = `/${b.service.typeName}/${method.name}`;
      if (method.methodKind === "unary") {
        out.set(path, unary(method, handler as UnaryFn, op, fail));
      } else if (method.methodKind === "server_streaming") {
        out.set(path, streaming(method, handler as StreamFn, op, fail));
      } else if (method.methodKind === "bidi_streaming") {
        out.set(path, bidi(method, handler as BidiFn, op, fail));
      } else {
        throw new TypeError(
          `Cannot bind ${method.name}: client streaming is not served`,
        );
      }
    }
  }
  return out;
}

function contextOf(call: GrpcCall): { ctx: CallContext; cleanups: (() => void)[] } {
  const cleanups: (() => void)[] = [];
  const ctx: CallContext = {
    peer: call.peer,
    metadata: (name) => call.metadata(name),
    signal: call.signal,
    defer: (fn) => cleanups.push(fn),
  };
  return { ctx, cleanups };
}

function runCleanups(cleanups: (() => void)[]): void {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch { /* cleanup must not throw */ }
  }
}

function decode(method: DescMethod, bytes: Uint8Array, op: string): unknown {
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw invalidRequest("malformed request message", op);
  }
}

function encode(method: DescMethod, msg: unknown): Uint8Array {
  // deno-lint-ignore no-explicit-any
  return toBinary(method.output, create(method.output, msg as any));
}

function unary(method: DescMethod, handler: UnaryFn, op: string, fail: Fail): GrpcMethod {
  return {
    streaming: false,
    async serve(call) {
      const { ctx, cleanups } = contextOf(call);
      try {
        return encode(method, await handler(decode(method, call.request, op), ctx));
      } catch (e) {
        throw fail(e);
      } finally {
        runCleanups(cleanups);
      }
    },
  };
}

/** Encodes and sends one response of a stream, then runs the cleanups it deferred. */
function sender(
  method: DescMethod,
  call: GrpcCall,
  cleanups: (() => void)[],
): (msg: unknown) => Promise<void> {
  return async (msg) => {
    if (call.signal.aborted) throw new DOMException("stream cancelled", "AbortError");
    const bytes = encode(method, msg);
    runCleanups(cleanups);
    await call.send(bytes);
  };
}

function streaming(method: DescMethod, handler: StreamFn, op: string, fail: Fail): GrpcMethod {
  return {
    streaming: true,
    async serve(call) {
      const { ctx, cleanups } = contextOf(call);
      try {
        await handler(decode(method, call.request, op), ctx, sender(method, call, cleanups));
      } catch (e) {
        throw fail(e);
      } finally {
        runCleanups(cleanups);
      }
    },
  };
}

/** The later requests of a bidirectional call, decoded as the handler asks for them. */
async function* decodeAll(
  method: DescMethod,
  messages: AsyncIterable<Uint8Array>,
  op: string,
): AsyncIterable<unknown> {
  for await (const bytes of messages) yield decode(method, bytes, op);
}

function bidi(method: DescMethod, handler: BidiFn, op: string, fail: Fail): GrpcMethod {
  return {
    streaming: true,
    bidi: true,
    async serve(call) {
      const { ctx, cleanups } = contextOf(call);
      try {
        await handler(
          decode(method, call.request, op),
          ctx,
          sender(method, call, cleanups),
          decodeAll(method, call.messages, op),
        );
      } catch (e) {
        throw fail(e);
      } finally {
        runCleanups(cleanups);
      }
    },
  };
}
