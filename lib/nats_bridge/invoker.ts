/**
 * The bridge's one call: `InvocationService.Invoke` over the agent's unix
 * socket, gRPC over `node:http2` (one connection, one stream per call,
 * re-opened when it drops). Every outcome is classified for the courier:
 * a SealedResponse, or unavailable / rejected / timeout / internal with an
 * operator-facing detail. The bridge never reads the sealed bytes.
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import http2 from "node:http2";
import net from "node:net";
import {
  BrokerErrorInfoSchema,
  InvocationService,
  SealedRequestSchema,
  SealedResponseSchema,
} from "../wire/basil/broker/v1/broker_pb.ts";
import type { SealedResponse } from "../wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../wire/google/rpc/status_pb.ts";

/** Why the agent produced no sealed response. */
export type InvokeFailureKind = "unavailable" | "rejected" | "timeout" | "internal";

/** The outcome of one Invoke call. */
export type InvokeOutcome =
  | { readonly ok: true; readonly response: SealedResponse }
  | { readonly ok: false; readonly kind: InvokeFailureKind; readonly detail: string };

/** Something that carries one sealed request to the agent (a fake in unit tests). */
export interface Invoker {
  invoke(message: Uint8Array): Promise<InvokeOutcome>;
  close(): void;
}

const CODE_NAMES: Record<number, string> = {
  1: "Cancelled",
  2: "Unknown",
  3: "InvalidArgument",
  4: "DeadlineExceeded",
  5: "NotFound",
  6: "AlreadyExists",
  7: "PermissionDenied",
  8: "ResourceExhausted",
  9: "FailedPrecondition",
  10: "Aborted",
  11: "OutOfRange",
  12: "Unimplemented",
  13: "Internal",
  14: "Unavailable",
  15: "DataLoss",
  16: "Unauthenticated",
};

/**
 * The courier's class for a non-OK gRPC status (upstream's mapping):
 * UNAVAILABLE → unavailable, DEADLINE_EXCEEDED → timeout, INTERNAL and
 * UNKNOWN → internal, anything else → rejected.
 */
export function classifyStatus(code: number): InvokeFailureKind {
  if (code === 14) return "unavailable";
  if (code === 4) return "timeout";
  if (code === 13 || code === 2) return "internal";
  return "rejected";
}

function reasonOf(details: Uint8Array | undefined): string | undefined {
  if (details === undefined) return undefined;
  try {
    for (const d of fromBinary(StatusSchema, details).details) {
      const info = anyUnpack(d, BrokerErrorInfoSchema);
      if (info) return info.reason;
    }
  } catch { /* no structured detail */ }
  return undefined;
}

function base64Header(v: unknown): Uint8Array | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  try {
    const b64 = v.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(
      atob(b64 + "=".repeat((4 - b64.length % 4) % 4)),
      (c) => c.charCodeAt(0),
    );
  } catch {
    return undefined;
  }
}

function grpcMessage(v: unknown): string {
  const s = typeof v === "string" ? v : "";
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One gRPC length-prefixed, uncompressed message. */
function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

/** Invoke over the agent's unix socket. */
export class SocketInvoker implements Invoker {
  readonly #socket: string;
  readonly #timeoutMs: number;
  #session: http2.ClientHttp2Session | undefined;
  #sessionError: string | undefined;

  constructor(socket: string, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
  }

  /** The open session, or a new one once its socket connected (a clear error if not). */
  async #connect(): Promise<http2.ClientHttp2Session> {
    const live = this.#session;
    if (live !== undefined && !live.destroyed && !live.closed) return live;
    this.#sessionError = undefined;
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect(this.#socket);
      c.once("connect", () => resolve(c));
      c.once("error", (e: Error & { code?: string }) => reject(new Error(this.#describe(e))));
    });
    const again = this.#session;
    if (again !== undefined && !again.destroyed && !again.closed) {
      sock.destroy();
      return again;
    }
    const s = http2.connect("http://localhost", { createConnection: () => sock });
    s.on("error", (e: Error & { code?: string }) => {
      this.#sessionError = this.#describe(e);
    });
    s.on("close", () => {
      if (this.#session === s) this.#session = undefined;
    });
    this.#session = s;
    return s;
  }

  #describe(e: Error & { code?: string }): string {
    return e.code === "ENOENT"
      ? `no socket at ${this.#socket}`
      : e.code === "ECONNREFUSED"
      ? `connection refused at ${this.#socket}`
      : e.code === "EACCES"
      ? `permission denied on ${this.#socket}`
      : `${e.code ?? e.name} on ${this.#socket}`;
  }

  /** Sends one SealedRequest{message}; never throws. */
  async invoke(message: Uint8Array): Promise<InvokeOutcome> {
    let session: http2.ClientHttp2Session;
    try {
      session = await this.#connect();
    } catch (e) {
      return {
        ok: false,
        kind: "unavailable",
        detail: e instanceof Error ? e.message : "cannot connect",
      };
    }
    const body = toBinary(SealedRequestSchema, create(SealedRequestSchema, { message }));
    const framed = frame(body);
    return await new Promise((resolve) => {
      let settled = false;
      let status: number | undefined;
      let statusMessage = "";
      let details: Uint8Array | undefined;
      let buf = new Uint8Array(0);
      let stream: http2.ClientHttp2Stream | undefined;
      const finish = (o: InvokeOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const fail = (kind: InvokeFailureKind, detail: string) => finish({ ok: false, kind, detail });
      const timer = setTimeout(() => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        fail("timeout", `no answer from the agent within ${this.#timeoutMs} ms`);
      }, this.#timeoutMs);
      try {
        stream = session.request({
          ":method": "POST",
          ":path": `/${InvocationService.typeName}/${InvocationService.method.invoke.name}`,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": `${this.#timeoutMs}m`,
        });
      } catch (e) {
        fail("unavailable", e instanceof Error ? `${e.name}: ${e.message}` : "cannot connect");
        return;
      }
      const readStatus = (h: http2.IncomingHttpHeaders) => {
        const s = h["grpc-status"];
        if (s === undefined) return;
        status = Number(s);
        statusMessage = grpcMessage(h["grpc-message"]);
        details = base64Header(h["grpc-status-details-bin"]);
      };
      stream.on("response", (h) => {
        const st = h[":status"];
        if (st !== 200) {
          stream?.close(http2.constants.NGHTTP2_CANCEL);
          if (st === 404) fail("rejected", "the agent does not serve InvocationService.Invoke");
          else fail("internal", `the agent answered HTTP status ${st}`);
          return;
        }
        readStatus(h);
      });
      stream.on("trailers", readStatus);
      stream.on("data", (chunk: Uint8Array) => {
        const joined = new Uint8Array(buf.length + chunk.length);
        joined.set(buf);
        joined.set(chunk, buf.length);
        buf = joined;
      });
      let streamError: string | undefined;
      stream.on("error", (e: Error & { code?: string }) => {
        // Reported on close; a failed connect shows up here first.
        streamError = e.code === undefined || e.code.startsWith("ERR_HTTP2")
          ? undefined
          : this.#describe(e);
      });
      stream.on("close", () => {
        if (status === undefined) {
          const why = this.#sessionError ?? streamError;
          fail("unavailable", why ?? "the agent closed the call without a status");
          return;
        }
        if (status !== 0) {
          const reason = reasonOf(details);
          const tag = `${CODE_NAMES[status] ?? `Code${status}`}${reason ? `/${reason}` : ""}`;
          fail(classifyStatus(status), `agent status [${tag}]: ${statusMessage}`);
          return;
        }
        finish(decodeOne(buf));
      });
      stream.end(framed);
    });
  }

  /** Closes the connection. */
  close(): void {
    const s = this.#session;
    this.#session = undefined;
    if (s !== undefined && !s.destroyed) s.close();
  }
}

/** Exactly one uncompressed SealedResponse, or an internal failure. */
function decodeOne(buf: Uint8Array): InvokeOutcome {
  const bad = (detail: string): InvokeOutcome => ({ ok: false, kind: "internal", detail });
  if (buf.length < 5 || buf[0] !== 0) return bad("the agent sent no usable response message");
  const len = new DataView(buf.buffer, buf.byteOffset + 1, 4).getUint32(0);
  if (buf.length !== 5 + len) return bad("the agent sent a malformed response frame");
  try {
    return { ok: true, response: fromBinary(SealedResponseSchema, buf.subarray(5)) };
  } catch {
    return bad("the agent sent an undecodable SealedResponse");
  }
}
