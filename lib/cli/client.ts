/**
 * The CLI's gRPC client over the agent's unix socket, driven by the same
 * generated descriptors as the server. Failed calls become `CliError`s in the
 * contract's form `agent status [<Code>/<REASON>]: <message>`, with the
 * reason taken from the BrokerErrorInfo detail; an unreachable agent is
 * `agent status [Unavailable]: cannot reach the agent at <socket>: …`.
 * Unary request bytes (which may hold key material) are zeroed once the
 * call settles.
 *
 * It speaks gRPC (HTTP/2, length-prefixed messages, status in trailers)
 * directly over `node:http2`: a CLI run makes one or two calls, and loading
 * grpc-js cost more start-up time than the call itself (bench/cli_start.ts).
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethodServerStreaming,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import http2 from "node:http2";
import net from "node:net";
import { BrokerErrorInfoSchema } from "../wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../wire/google/rpc/status_pb.ts";
import { CliError } from "./io.ts";

const CODE_NAMES: Record<number, string> = {
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

const UNAVAILABLE = 14;

/** A decoded call failure. */
export interface CallFailure {
  readonly code: number;
  readonly codeName: string;
  readonly reason: string | undefined;
  readonly op: string | undefined;
  readonly message: string;
}

/**
 * A failure from a gRPC status: `code`, the (percent-decoded) message and
 * the `grpc-status-details-bin` bytes, whose BrokerErrorInfo gives the reason.
 */
export function decodeFailure(code: number, message: string, details?: Uint8Array): CallFailure {
  let reason: string | undefined;
  let op: string | undefined;
  if (details !== undefined) {
    try {
      const st = fromBinary(StatusSchema, details);
      for (const d of st.details) {
        const info = anyUnpack(d, BrokerErrorInfoSchema);
        if (info) {
          reason = info.reason;
          op = info.op;
        }
      }
    } catch { /* no structured detail */ }
  }
  return { code, codeName: CODE_NAMES[code] ?? `Code${code}`, reason, op, message };
}

/**
 * The CLI error for a failed call. Every failure, an unreachable agent
 * included, reads `agent status [<Code>[/<REASON>]]: …`, so scripts match
 * one pattern.
 */
export function failureError(f: CallFailure, socket: string): CliError {
  const tag = f.reason ? `${f.codeName}/${f.reason}` : f.codeName;
  if (f.code === UNAVAILABLE && f.reason === undefined) {
    return new CliError(`agent status [${tag}]: cannot reach the agent at ${socket}: ${f.message}`);
  }
  return new CliError(`agent status [${tag}]: ${f.message}`);
}

/** Options for {@linkcode BrokerClient}. */
export interface ClientOptions {
  /** Per-call deadline in ms (default 30 s). */
  timeoutMs?: number;
  /** Extra request metadata (e.g. `workload.spiffe.io: true`). */
  metadata?: Record<string, string>;
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

function headerBytes(v: unknown): Uint8Array | undefined {
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

/** Splits gRPC length-prefixed messages out of a growing buffer. */
class MessageReader {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf);
    joined.set(chunk, this.#buf.length);
    this.#buf.fill(0);
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

/** The outcome of one call: the messages, or a failure. */
type Outcome = { ok: true; messages: Uint8Array[] } | { ok: false; failure: CallFailure };

/** A connection to the agent. */
export class BrokerClient {
  readonly #socket: string;
  readonly #timeoutMs: number;
  readonly #metadata: Record<string, string>;
  #session: http2.ClientHttp2Session | undefined;
  /** Why the session failed, when it did. */
  #sessionError: string | undefined;

  constructor(socket: string, options: ClientOptions = {}) {
    this.#socket = socket;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#metadata = options.metadata ?? {};
  }

  #connect(): http2.ClientHttp2Session {
    if (this.#session !== undefined && !this.#session.destroyed) return this.#session;
    this.#sessionError = undefined;
    const s = http2.connect("http://localhost", {
      createConnection: () => net.connect(this.#socket),
    });
    s.on("error", (e: Error & { code?: string }) => {
      this.#sessionError = e.code === "ENOENT"
        ? "no socket there (is the agent running?)"
        : e.code === "ECONNREFUSED"
        ? "connection refused (is the agent running?)"
        : e.code === "EACCES"
        ? "permission denied on the socket"
        : `${e.code ?? e.name}: ${e.message}`;
    });
    this.#session = s;
    return s;
  }

  /** Runs one call: sends `body` (one message), collects the replies. */
  #call(path: string, body: Uint8Array, onMessage?: (m: Uint8Array) => void): Promise<Outcome> {
    let session: http2.ClientHttp2Session;
    try {
      session = this.#connect();
    } catch (e) {
      // Not even a connection attempt (say the sandbox refused it).
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : "cannot connect";
      return Promise.resolve({ ok: false, failure: decodeFailure(UNAVAILABLE, msg) });
    }
    return new Promise((resolve) => {
      let settled = false;
      const collected: Uint8Array[] = [];
      const reader = new MessageReader();
      let status: number | undefined;
      let message = "";
      let details: Uint8Array | undefined;
      const framed = frame(body);
      let req: http2.ClientHttp2Stream | undefined;
      const timer = setTimeout(() => {
        req?.close(http2.constants.NGHTTP2_CANCEL);
        fail(4, "deadline exceeded");
      }, this.#timeoutMs);
      const finish = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reader.wipe();
        framed.fill(0);
        resolve(o);
      };
      const fail = (code: number, msg: string) =>
        finish({ ok: false, failure: decodeFailure(code, msg, details) });
      const headers: Record<string, string> = {
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": `${Math.max(1, this.#timeoutMs)}m`,
        ...this.#metadata,
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = req = session.request(headers);
      } catch (e) {
        fail(UNAVAILABLE, e instanceof Error ? e.message : "cannot start the call");
        return;
      }
      const readStatus = (h: http2.IncomingHttpHeaders) => {
        const s = h["grpc-status"];
        if (s === undefined) return;
        status = Number(s);
        message = decodeGrpcMessage(h["grpc-message"]);
        details = headerBytes(h["grpc-status-details-bin"]);
      };
      stream.on("response", (h) => {
        const st = h[":status"];
        if (st !== 200) {
          fail(st === 404 ? 12 : 2, `HTTP status ${st}`);
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        readStatus(h);
      });
      stream.on("trailers", readStatus);
      stream.on("data", (chunk: Uint8Array) => {
        try {
          const messages = reader.push(chunk);
          chunk.fill(0);
          for (const m of messages) {
            if (onMessage) onMessage(m);
            else collected.push(m);
          }
        } catch (e) {
          fail(13, e instanceof Error ? e.message : "bad response framing");
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      stream.on("error", () => {/* reported on close */});
      stream.on("close", () => {
        if (status === undefined) {
          fail(UNAVAILABLE, this.#sessionError ?? "the connection closed before the call ended");
        } else if (status !== 0) fail(status, message);
        else if (reader.pending !== 0) fail(13, "truncated response message");
        else finish({ ok: true, messages: collected });
      });
      stream.end(framed);
    });
  }

  /** One unary call. */
  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const path = `/${method.parent.typeName}/${method.name}`;
    const bytes = toBinary(method.input, create(method.input, req));
    let o: Outcome;
    try {
      o = await this.#call(path, bytes);
    } finally {
      bytes.fill(0);
    }
    if (!o.ok) throw failureError(o.failure, this.#socket);
    if (o.messages.length !== 1) {
      for (const m of o.messages) m.fill(0);
      throw failureError(decodeFailure(13, "expected one response message"), this.#socket);
    }
    // Not wiped here: bytes fields of the message are views into it (the
    // command wipes the value it printed).
    return fromBinary(method.output, o.messages[0]!);
  }

  /** A server-streaming call, collected. */
  async stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>[]> {
    const path = `/${method.parent.typeName}/${method.name}`;
    // Stream requests (list, watch) carry no secrets; this buffer is not wiped.
    const bytes = toBinary(method.input, create(method.input, req));
    const out: MessageShape<O>[] = [];
    const o = await this.#call(path, bytes, (m) => out.push(fromBinary(method.output, m)));
    if (!o.ok) throw failureError(o.failure, this.#socket);
    return out;
  }

  /** Closes the connection. */
  close(): void {
    const s = this.#session;
    this.#session = undefined;
    if (s !== undefined && !s.destroyed) s.close();
  }
}

/** One gRPC length-prefixed, uncompressed message. */
function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

/** Runs `fn` with a client on `socket`, closing it afterwards. */
export async function withClient<T>(
  socket: string,
  fn: (c: BrokerClient) => Promise<T>,
  options: ClientOptions = {},
): Promise<T> {
  const c = new BrokerClient(socket, options);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
