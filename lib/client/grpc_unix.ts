/**
 * The one gRPC client of the agent's unix socket, shared by the CLI and the
 * NATS bridge: HTTP/2 through `node:http2`, length-prefixed uncompressed
 * messages, the status from headers or trailers. One connection, re-opened
 * when it drops; one stream per call. A call never throws: it settles to the
 * response messages or to a status (a transport failure is UNAVAILABLE
 * with a plain reason, the deadline DEADLINE_EXCEEDED, bad framing
 * INTERNAL). Request and buffered response bytes are zeroed once the call
 * settles; the messages handed back are the caller's.
 *
 * Hand-written rather than grpc-js: a CLI run makes one or two calls, and
 * loading grpc-js cost more start-up time than the call itself
 * (bench/cli_start.ts).
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import http2 from "node:http2";
import net from "node:net";
import { BrokerErrorInfoSchema } from "../wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../wire/google/rpc/status_pb.ts";

/** gRPC status codes by number, in the CamelCase the CLI prints. */
export const CODE_NAMES: Readonly<Record<number, string>> = {
  0: "Ok",
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

/** The codes this module produces itself. */
export const CODE = { UNKNOWN: 2, DEADLINE_EXCEEDED: 4, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;
/** A transport failure: no status came back. */
export const UNAVAILABLE = 14;

/** How one call ended. */
export type CallOutcome =
  | { readonly ok: true; readonly messages: Uint8Array[] }
  | {
    readonly ok: false;
    readonly code: number;
    /** The percent-decoded `grpc-message`, or this module's reason. */
    readonly message: string;
    /** `grpc-status-details-bin`, when sent. */
    readonly details?: Uint8Array;
    /** True when the agent was not reached or ended the call without a status. */
    readonly unreachable: boolean;
  };

/** What one call sends besides its message. */
export interface CallOptions {
  readonly timeoutMs: number;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Hears each response message as it arrives (instead of collecting them). */
  readonly onMessage?: (m: Uint8Array) => void;
}

/** The BrokerErrorInfo `reason` and `op` inside `grpc-status-details-bin`, when present. */
export function brokerErrorInfo(
  details: Uint8Array | undefined,
): { reason?: string; op?: string } {
  if (details === undefined) return {};
  try {
    for (const d of fromBinary(StatusSchema, details).details) {
      const info = anyUnpack(d, BrokerErrorInfoSchema);
      if (info) return { reason: info.reason, op: info.op };
    }
  } catch { /* no structured detail */ }
  return {};
}

/** `grpc-message` is percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(v: unknown): string {
  const s = typeof v === "string" ? v : "";
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `-bin` metadata: base64, padded or not, standard or URL alphabet. */
function binaryHeader(v: unknown): Uint8Array | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const b64 = v.replace(/-/g, "+").replace(/_/g, "/");
  try {
    return Uint8Array.from(
      atob(b64 + "=".repeat((4 - b64.length % 4) % 4)),
      (c) => c.charCodeAt(0),
    );
  } catch {
    return undefined;
  }
}

/** One gRPC length-prefixed, uncompressed message. */
function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

/** Splits length-prefixed messages out of a growing buffer (zeroing what it copies from). */
class ResponseReader {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf);
    joined.set(chunk, this.#buf.length);
    this.#buf.fill(0);
    chunk.fill(0);
    const out: Uint8Array[] = [];
    let off = 0;
    while (joined.length - off >= 5) {
      if (joined[off] !== 0) throw new Error("compressed messages are not supported");
      const len = new DataView(joined.buffer, joined.byteOffset + off + 1, 4).getUint32(0);
      if (joined.length - off - 5 < len) break;
      out.push(joined.slice(off + 5, off + 5 + len));
      off += 5 + len;
    }
    this.#buf = joined.slice(off);
    joined.fill(0);
    return out;
  }

  get pending(): number {
    return this.#buf.length;
  }

  wipe(): void {
    this.#buf.fill(0);
  }
}

/** A plain reason for a socket error (no socket, refused, permission). */
function describe(e: Error & { code?: string }): string {
  return e.code === "ENOENT"
    ? "no socket there (is the agent running?)"
    : e.code === "ECONNREFUSED"
    ? "connection refused (is the agent running?)"
    : e.code === "EACCES"
    ? "permission denied on the socket"
    : `${e.code ?? e.name}: ${e.message}`;
}

/** A connection to the agent's socket. */
export class GrpcUnixClient {
  readonly #socket: string;
  #session: http2.ClientHttp2Session | undefined;
  /** Why the session failed, when it did. */
  #sessionError: string | undefined;

  constructor(socket: string) {
    this.#socket = socket;
  }

  /** The open session, or a new one once its socket connected. */
  async #connect(): Promise<http2.ClientHttp2Session> {
    const live = this.#session;
    if (live !== undefined && !live.destroyed && !live.closed) return live;
    this.#sessionError = undefined;
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect(this.#socket);
      c.once("connect", () => resolve(c));
      c.once("error", (e: Error & { code?: string }) => reject(new Error(describe(e))));
    });
    const again = this.#session;
    if (again !== undefined && !again.destroyed && !again.closed) {
      sock.destroy();
      return again;
    }
    const s = http2.connect("http://localhost", { createConnection: () => sock });
    s.on("error", (e: Error & { code?: string }) => {
      this.#sessionError = describe(e);
    });
    s.on("close", () => {
      if (this.#session === s) this.#session = undefined;
    });
    this.#session = s;
    return s;
  }

  /** Runs one call on `path` with one request message (zeroed once the call settles). */
  async call(path: string, body: Uint8Array, o: CallOptions): Promise<CallOutcome> {
    const framed = frame(body);
    try {
      let session: http2.ClientHttp2Session;
      try {
        session = await this.#connect();
      } catch (e) {
        // A socket error, or not even an attempt (say the sandbox refused it).
        const why = e instanceof Error ? e.message : "cannot connect";
        return { ok: false, code: UNAVAILABLE, message: why, unreachable: true };
      }
      return await this.#run(session, path, framed, o);
    } finally {
      framed.fill(0);
    }
  }

  #run(
    session: http2.ClientHttp2Session,
    path: string,
    framed: Uint8Array,
    o: CallOptions,
  ): Promise<CallOutcome> {
    return new Promise((resolve) => {
      let settled = false;
      const collected: Uint8Array[] = [];
      const reader = new ResponseReader();
      let status: number | undefined;
      let message = "";
      let details: Uint8Array | undefined;
      let stream: http2.ClientHttp2Stream | undefined;
      const finish = (out: CallOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reader.wipe();
        if (!out.ok) { for (const m of collected.splice(0)) m.fill(0); }
        resolve(out);
      };
      const fail = (code: number, msg: string, unreachable = false) =>
        finish({ ok: false, code, message: msg, details, unreachable });
      const timer = setTimeout(() => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        fail(CODE.DEADLINE_EXCEEDED, "deadline exceeded");
      }, o.timeoutMs);
      try {
        stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": `${Math.max(1, o.timeoutMs)}m`,
          ...o.metadata,
        });
      } catch (e) {
        fail(UNAVAILABLE, e instanceof Error ? e.message : "cannot start the call", true);
        return;
      }
      const s = stream;
      const readStatus = (h: http2.IncomingHttpHeaders) => {
        const st = h["grpc-status"];
        if (st === undefined) return;
        status = Number(st);
        message = decodeGrpcMessage(h["grpc-message"]);
        details = binaryHeader(h["grpc-status-details-bin"]);
      };
      s.on("response", (h) => {
        const st = h[":status"];
        if (st !== 200) {
          fail(st === 404 ? CODE.UNIMPLEMENTED : CODE.UNKNOWN, `HTTP status ${st}`);
          s.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        readStatus(h);
      });
      s.on("trailers", readStatus);
      s.on("data", (chunk: Uint8Array) => {
        try {
          for (const m of reader.push(chunk)) {
            if (o.onMessage) o.onMessage(m);
            else collected.push(m);
          }
        } catch (e) {
          fail(CODE.INTERNAL, e instanceof Error ? e.message : "bad response framing");
          s.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      s.on("error", () => {/* reported on close */});
      s.on("close", () => {
        if (status === undefined) {
          const why = this.#sessionError ?? "the connection closed before the call ended";
          fail(UNAVAILABLE, why, true);
        } else if (status !== 0) fail(status, message);
        else if (reader.pending !== 0) fail(CODE.INTERNAL, "truncated response message");
        else finish({ ok: true, messages: collected });
      });
      s.end(framed);
    });
  }

  /** Closes the connection. */
  close(): void {
    const s = this.#session;
    this.#session = undefined;
    if (s !== undefined && !s.destroyed) s.close();
  }
}
