/**
 * Adapts service bindings (generated descriptors + typed handlers) to
 * grpc-js. Requests arrive as raw bytes and are decoded here, so a malformed
 * message is INVALID_ARGUMENT with BrokerErrorInfo instead of grpc-js's own
 * INTERNAL. Responses are serialized here, then deferred cleanups run (for
 * wiping secrets), and the serialized bytes are zeroed once grpc-js has
 * copied them (see {@linkcode serveUnary}). Errors go through the one status
 * table in status.ts.
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { invalidRequest } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { PeerIdentity } from "../policy/pdp.ts";
import type { CallContext, ServiceBinding } from "../service/types.ts";
import { asBasilError, toServiceError } from "./status.ts";

const PEER_PREFIX = "basil-peer:";

/** Encodes attested credentials into the socket's `remoteAddress`. */
export function encodePeer(peer: PeerIdentity | undefined): string {
  return peer === undefined
    ? `${PEER_PREFIX}none`
    : `${PEER_PREFIX}uid=${peer.uid};gid=${peer.gid};pid=${peer.pid}`;
}

const PEER_RE = /^basil-peer:uid=(\d+);gid=(\d+);pid=(-?\d+)$/;

/** Recovers the credentials set by {@linkcode encodePeer} from `call.getPeer()`. */
export function decodePeer(peer: string): PeerIdentity | undefined {
  const m = PEER_RE.exec(peer);
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: Number(m[2]), pid: Number(m[3]) };
}

const identity = (b: Buffer): Buffer => b;

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

type AnyCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>;

function contextOf(call: AnyCall): { ctx: CallContext; cleanups: (() => void)[] } {
  const cleanups: (() => void)[] = [];
  const ac = new AbortController();
  (call as grpc.ServerUnaryCall<Buffer, Buffer>).once("cancelled", () => ac.abort());
  const ctx: CallContext = {
    peer: decodePeer(call.getPeer()),
    metadata: (name) => call.metadata.get(name).filter((v): v is string => typeof v === "string"),
    signal: ac.signal,
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

/** A grpc-js service definition plus its implementation. */
export interface GrpcService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** Builds the grpc-js definition and implementation of a binding. */
export function toGrpcService(binding: ServiceBinding, logger: Logger): GrpcService {
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  const fail = (e: unknown, op: string) => {
    const err = asBasilError(e, op);
    if (err.code === "INTERNAL" || err.detail !== undefined) {
      logger.log(err.code === "INTERNAL" ? "error" : "debug", "request failed", {
        op,
        code: err.code,
        detail: err.detail,
      });
    }
    return toServiceError(err, binding.plainErrors);
  };
  for (const method of binding.service.methods) {
    const handler = binding.handlers[method.localName];
    if (typeof handler !== "function") {
      throw new TypeError(`Cannot bind ${binding.service.typeName}: no handler for ${method.name}`);
    }
    const streaming = method.methodKind === "server_streaming";
    if (!streaming && method.methodKind !== "unary") {
      throw new TypeError(`Cannot bind ${method.name}: only unary and server streaming are served`);
    }
    definition[method.localName] = {
      path: `/${binding.service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: streaming,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    const op = snake(method.name);
    implementation[method.localName] = streaming
      ? serveStream(method, handler as StreamFn, op, fail)
      : serveUnary(method, handler as UnaryFn, op, fail);
  }
  return { definition, implementation };
}

type UnaryFn = (req: unknown, ctx: CallContext) => Promise<unknown>;
type StreamFn = (
  req: unknown,
  ctx: CallContext,
  send: (msg: unknown) => Promise<void>,
) => Promise<void>;
type Fail = (e: unknown, op: string) => ReturnType<typeof toServiceError>;

function decode(method: DescMethod, bytes: Buffer, op: string): unknown {
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw invalidRequest("malformed request message", op);
  }
}

function encode(method: DescMethod, msg: unknown): Buffer {
  // deno-lint-ignore no-explicit-any
  const bytes = toBinary(method.output, create(method.output, msg as any));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Unary calls. The serialized response (secret values, plaintexts, leaf
 * keys) is zeroed right after `callback` returns: with no server
 * interceptors, grpc-js 1.14 (`BaseServerInterceptingCall.sendMessage` →
 * `serializeMessage`) copies it into a fresh framed buffer synchronously,
 * inside `callback`, before writing that copy; it keeps no reference to ours.
 */
function serveUnary(method: DescMethod, handler: UnaryFn, op: string, fail: Fail) {
  return (
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    callback: grpc.sendUnaryData<Buffer>,
  ): void => {
    const { ctx, cleanups } = contextOf(call);
    let out: Buffer;
    (async () => {
      const res = await handler(decode(method, call.request, op), ctx);
      out = encode(method, res);
    })().then(
      () => {
        runCleanups(cleanups);
        try {
          callback(null, out);
        } finally {
          out.fill(0);
        }
      },
      (e) => {
        runCleanups(cleanups);
        callback(fail(e, op));
      },
    );
  };
}

/**
 * Server-streaming calls. A message may wait in the stream's buffer, so its
 * serialized bytes are zeroed in the write callback (grpc-js calls it after
 * copying them, see {@linkcode serveUnary}), or when the call is cancelled
 * (grpc-js then drops queued messages without calling back).
 */
function serveStream(method: DescMethod, handler: StreamFn, op: string, fail: Fail) {
  return (call: grpc.ServerWritableStream<Buffer, Buffer>): void => {
    const { ctx, cleanups } = contextOf(call);
    const pending = new Set<Buffer>();
    ctx.signal.addEventListener("abort", () => {
      for (const b of pending) b.fill(0);
      pending.clear();
    });
    const send = async (msg: unknown) => {
      if (ctx.signal.aborted) throw new DOMException("stream cancelled", "AbortError");
      const bytes = encode(method, msg);
      pending.add(bytes);
      const ok = call.write(bytes, () => {
        bytes.fill(0);
        pending.delete(bytes);
      });
      runCleanups(cleanups);
      if (!ok) {
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          };
          call.on("drain", done);
          ctx.signal.addEventListener("abort", done);
        });
      }
    };
    (async () => {
      await handler(decode(method, call.request, op), ctx, send);
    })().then(
      () => {
        runCleanups(cleanups);
        if (!ctx.signal.aborted) call.end();
      },
      (e) => {
        runCleanups(cleanups);
        if (!ctx.signal.aborted) call.emit("error", fail(e, op));
      },
    );
  };
}
