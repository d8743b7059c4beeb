/**
 * One gRPC call on one HTTP/2 stream: checks the request headers, reads the
 * request (the single message of a unary or server-streaming call, run once
 * the client half-closes; the first message of a bidirectional call, run as
 * soon as it is complete, with the later ones handed to the method as they
 * arrive), runs the method, and answers with headers, messages and trailers,
 * or with one trailers-only HEADERS frame when nothing was sent before a
 * failure.
 *
 * - Refused before any handler runs: a method other than POST (HTTP 405), a
 *   content-type that is not `application/grpc*` (HTTP 415), an unknown path
 *   (UNIMPLEMENTED), a `grpc-encoding` other than identity or a compressed
 *   message (UNIMPLEMENTED; this server never compresses), a malformed
 *   `grpc-timeout` (INTERNAL), a message over the cap (RESOURCE_EXHAUSTED,
 *   before it is allocated), zero or several request messages on a call that
 *   takes one, or a body ending inside a message (INTERNAL). A
 *   bidirectional call whose client sends faster than the method reads
 *   (see request_queue.ts) ends RESOURCE_EXHAUSTED.
 * - `grpc-timeout` is enforced here: at the deadline the call is answered
 *   DEADLINE_EXCEEDED and its signal aborts. A client that resets the stream
 *   or goes away aborts the signal too; a late result is dropped (and
 *   zeroed).
 * - Any thrown value that is not a {@linkcode StatusError} is answered
 *   INTERNAL "internal error": nothing a method throws reaches the wire
 *   unless it was made for it.
 * - The request message is zeroed once the method has settled, and
 *   response messages once the socket has taken them.
 * - Each call is counted when it ends (`basil_grpc_requests_total` and the
 *   latency histogram, by the service and method the server knows, else
 *   `unknown`); an oversize or malformed request message is reported as
 *   abuse (`CallEnvironment.onAbuse`).
 * @module
 */

import type { Ucred } from "../../ffi/libc.ts";
import { H2_ERROR } from "../../ffi/nghttp2.ts";
import { agentMetrics, methodLabels } from "../metrics/agent.ts";
import type { H2Abuse, ServerStream, StreamHandler } from "./h2_connection.ts";
import {
  frameMessage,
  GRPC_STATUS,
  MessageReader,
  parseGrpcTimeout,
  StatusError,
  statusTrailers,
} from "./grpc_wire.ts";
import type { GrpcStatusCode } from "./grpc_wire.ts";
import { RequestQueue } from "./request_queue.ts";

/** What a method sees of its call. */
export interface GrpcCall {
  readonly path: string;
  /**
   * The request message, or the first one of a bidirectional call (zeroed
   * after the method settles: copy what must outlive it).
   */
  readonly request: Uint8Array;
  /**
   * The later request messages of a bidirectional call, in order, ending
   * when the client half-closes and throwing once the call is over; empty
   * for other calls. Each is zeroed when the next is asked for.
   */
  readonly messages: AsyncIterable<Uint8Array>;
  /** The kernel-attested peer of the connection. */
  readonly peer: Ucred | undefined;
  /** Aborted on cancellation, deadline, disconnect or server shutdown. */
  readonly signal: AbortSignal;
  /** Values of a request metadata key, in order. */
  metadata(name: string): string[];
  /** Adds response metadata sent with the response headers (before the first message). */
  setHeader(name: string, value: string): void;
  /** Adds response metadata sent with the trailers. */
  setTrailer(name: string, value: string): void;
  /**
   * Sends one message of a server-streaming call (the call owns the bytes
   * now). Resolves when the client can take more; rejects once the call is over.
   */
  send(message: Uint8Array): Promise<void>;
}

/** A served method. */
export interface GrpcMethod {
  /** Sends a stream of responses (server-streaming and bidirectional methods). */
  readonly streaming: boolean;
  /** Reads a stream of requests too: runs on the first, gets the rest through `messages`. */
  readonly bidi?: boolean;
  /** Unary methods resolve to the response message; streaming ones send and resolve when done. */
  serve(call: GrpcCall): Promise<Uint8Array | void>;
}

/** A running call the server can end at shutdown. */
export interface ActiveCall {
  readonly streaming: boolean;
  /** Ends the call now with `code` (if it has not ended) and aborts its signal. */
  cancel(code: GrpcStatusCode, message: string): void;
}

/** What every call of a connection shares. */
export interface CallEnvironment {
  readonly methods: ReadonlyMap<string, GrpcMethod>;
  readonly peer: Ucred | undefined;
  readonly maxMessageBytes: number;
  /** Calls running right now (the server's set). */
  readonly active: Set<ActiveCall>;
  /** Hears of requests refused for their shape (oversize, malformed): counted as abuse. */
  readonly onAbuse?: (a: H2Abuse) => void;
}

const STATUS_NAME: ReadonlyMap<number, string> = new Map(
  Object.entries(GRPC_STATUS).map(([name, code]) => [code, name]),
);

/** The later messages of a call that reads one request: none. */
export const NO_MESSAGES: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

const RESERVED_HEADER = /^(:|grpc-status$|grpc-message$|grpc-status-details-bin$|content-type$)/;

/** Makes the handler of a new request stream. */
export function openGrpcStream(
  stream: ServerStream,
  headers: ReadonlyMap<string, readonly string[]>,
  env: CallEnvironment,
): StreamHandler {
  const call = new Call(stream, headers, env);
  call.start();
  return call;
}

class Call implements StreamHandler, ActiveCall {
  readonly #stream: ServerStream;
  readonly #headers: ReadonlyMap<string, readonly string[]>;
  readonly #env: CallEnvironment;
  readonly #ac = new AbortController();
  readonly #responseHeaders: [string, string][] = [];
  readonly #trailers: [string, string][] = [];
  #reader: MessageReader | undefined;
  /** The later requests of a bidirectional call. */
  #queue: RequestQueue | undefined;
  #method: GrpcMethod | undefined;
  #path = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sentHeaders = false;
  #finished = false;
  #dispatched = false;
  /** The status the call ended with, for the metrics. */
  #code = "CANCELLED";
  readonly #started = performance.now();

  constructor(
    stream: ServerStream,
    headers: ReadonlyMap<string, readonly string[]>,
    env: CallEnvironment,
  ) {
    this.#stream = stream;
    this.#headers = headers;
    this.#env = env;
    agentMetrics.streamsOpen.add({}, 1);
  }

  get streaming(): boolean {
    return this.#method?.streaming ?? false;
  }

  start(): void {
    const one = (name: string) => this.#headers.get(name)?.[0];
    if (one(":method") !== "POST") return this.#http(405);
    const ct = one("content-type") ?? "";
    if (!/^application\/grpc(?:$|[+;])/.test(ct)) return this.#http(415);
    this.#path = one(":path") ?? "";
    const method = this.#env.methods.get(this.#path);
    if (!method) {
      return this.#fail(GRPC_STATUS.UNIMPLEMENTED, `unknown method ${this.#path.slice(0, 200)}`);
    }
    const encoding = one("grpc-encoding");
    if (encoding !== undefined && encoding !== "identity") {
      this.#trailers.push(["grpc-accept-encoding", "identity"]);
      return this.#fail(GRPC_STATUS.UNIMPLEMENTED, "compressed messages are not supported");
    }
    const timeout = one("grpc-timeout");
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(timeout);
      if (ms === undefined) return this.#fail(GRPC_STATUS.INTERNAL, "malformed grpc-timeout");
      this.#timer = setTimeout(() => this.#deadline(), ms);
    }
    this.#method = method;
    this.#reader = new MessageReader(this.#env.maxMessageBytes, method.bidi === true);
    if (method.bidi) this.#queue = new RequestQueue(this.#env.maxMessageBytes);
    this.#env.active.add(this);
  }

  // ---- StreamHandler ----

  data(chunk: Uint8Array): boolean {
    const r = this.#reader;
    if (!r || this.#finished) {
      chunk.fill(0);
      return true;
    }
    r.push(chunk);
    const fault = r.fault;
    if (fault === undefined) return this.#queue ? this.#takeMessages(r, this.#queue) : true;
    r.wipe();
    if (fault === "compressed") {
      this.#trailers.push(["grpc-accept-encoding", "identity"]);
      this.#fail(GRPC_STATUS.UNIMPLEMENTED, "compressed messages are not supported");
    } else if (fault === "too_large") {
      this.#env.onAbuse?.({ kind: "limit", detail: "request message too large" });
      this.#fail(
        GRPC_STATUS.RESOURCE_EXHAUSTED,
        `request message larger than ${this.#env.maxMessageBytes} bytes`,
      );
    } else if (fault === "extra_message") {
      this.#env.onAbuse?.({ kind: "protocol", detail: "more than one request message" });
      this.#fail(GRPC_STATUS.INTERNAL, "more than one request message");
    } else {
      this.#env.onAbuse?.({ kind: "protocol", detail: "malformed message prefix" });
      this.#fail(GRPC_STATUS.INTERNAL, "malformed message prefix");
    }
    return false; // nghttp2 resets the stream after the status is queued
  }

  end(): void {
    if (this.#finished || !this.#method) return;
    if (this.#queue && this.#dispatched) {
      if (this.#reader?.atBoundary) this.#queue.end();
      else this.#protocolFault("request body ends inside a message");
      return;
    }
    if (this.#dispatched) return;
    const request = this.#reader?.message();
    if (!request) {
      this.#reader?.wipe();
      this.#fail(GRPC_STATUS.INTERNAL, "expected exactly one request message");
      return;
    }
    this.#dispatched = true;
    this.#run(this.#method, request);
  }

  close(errorCode: number): void {
    if (!this.#finished) {
      this.#finish();
      this.#ac.abort(
        new DOMException(
          errorCode === H2_ERROR.NO_ERROR ? "stream closed" : "stream reset",
          "AbortError",
        ),
      );
    }
    if (!this.#dispatched || this.#queue) this.#reader?.wipe();
  }

  // ---- ActiveCall ----

  cancel(code: GrpcStatusCode, message: string): void {
    if (this.#finished) return;
    this.#fail(code, message);
    this.#ac.abort(new DOMException(message, "AbortError"));
  }

  // ---- the call ----

  /** Runs a bidirectional call on its first message and queues the later ones. */
  #takeMessages(r: MessageReader, queue: RequestQueue): boolean {
    for (let m = r.take(); m !== undefined; m = r.take()) {
      if (!this.#dispatched) {
        this.#dispatched = true;
        this.#run(this.#method!, m);
      } else if (!queue.push(m)) {
        r.wipe();
        this.#env.onAbuse?.({ kind: "limit", detail: "request messages sent faster than read" });
        this.cancel(GRPC_STATUS.RESOURCE_EXHAUSTED, "too many unread request messages");
        return false;
      }
    }
    return true;
  }

  #protocolFault(detail: string): void {
    this.#reader?.wipe();
    this.#env.onAbuse?.({ kind: "protocol", detail });
    this.cancel(GRPC_STATUS.INTERNAL, detail);
  }

  #run(method: GrpcMethod, request: Uint8Array): void {
    const call: GrpcCall = {
      path: this.#path,
      request,
      messages: this.#queue ?? NO_MESSAGES,
      peer: this.#env.peer,
      signal: this.#ac.signal,
      metadata: (name) => [...(this.#headers.get(name.toLowerCase()) ?? [])],
      setHeader: (name, value) => this.#addMetadata(this.#responseHeaders, name, value),
      setTrailer: (name, value) => this.#addMetadata(this.#trailers, name, value),
      send: (message) => {
        if (this.#finished) {
          message.fill(0);
          return Promise.reject(new DOMException("call is over", "AbortError"));
        }
        this.#sendHeaders();
        this.#stream.write(frameMessage(message));
        message.fill(0);
        return this.#stream.drained();
      },
    };
    let result: Promise<Uint8Array | void>;
    try {
      result = method.serve(call);
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (response) => {
        if (this.#finished) {
          response?.fill(0);
          return;
        }
        if (response) {
          this.#sendHeaders();
          this.#stream.write(frameMessage(response));
          response.fill(0);
        }
        this.#ok();
      },
      (e) => {
        if (this.#finished) return;
        if (e instanceof StatusError) this.#fail(e.code, e.message, e.details);
        else this.#fail(GRPC_STATUS.INTERNAL, "internal error");
      },
    ).finally(() => request.fill(0));
  }

  #addMetadata(list: [string, string][], name: string, value: string): void {
    const n = name.toLowerCase();
    if (RESERVED_HEADER.test(n) || !/^[0-9a-z_.-]+$/.test(n) || !/^[\x20-\x7e]*$/.test(value)) {
      throw new TypeError(`Cannot send metadata ${JSON.stringify(name)}`);
    }
    list.push([n, value]);
  }

  #sendHeaders(): void {
    if (this.#sentHeaders) return;
    this.#sentHeaders = true;
    this.#stream.respond([
      [":status", "200"],
      ["content-type", "application/grpc"],
      ...this.#responseHeaders,
    ]);
  }

  #ok(): void {
    if (this.#finished) return;
    this.#sendHeaders();
    this.#stream.end([...statusTrailers(GRPC_STATUS.OK, ""), ...this.#trailers]);
    this.#code = "OK";
    this.#finish();
  }

  /** Answers with a status: in trailers, or trailers-only when nothing was sent yet. */
  #fail(code: GrpcStatusCode, message: string, details?: Uint8Array): void {
    if (this.#finished) return;
    const trailers = [...statusTrailers(code, message, details), ...this.#trailers];
    if (this.#sentHeaders) this.#stream.end(trailers);
    else {
      this.#stream.respondOnly([
        [":status", "200"],
        ["content-type", "application/grpc"],
        ...this.#responseHeaders,
        ...trailers,
      ]);
    }
    this.#code = STATUS_NAME.get(code) ?? "UNKNOWN";
    this.#finish();
  }

  #http(status: number): void {
    this.#stream.respondOnly([[":status", String(status)]]);
    this.#code = `HTTP_${status}`;
    this.#finish();
  }

  #deadline(): void {
    if (this.#finished) return;
    this.#fail(GRPC_STATUS.DEADLINE_EXCEEDED, "deadline exceeded");
    this.#ac.abort(new DOMException("deadline exceeded", "TimeoutError"));
  }

  #finish(): void {
    if (!this.#finished) this.#count();
    this.#finished = true;
    this.#queue?.fail(new DOMException("call is over", "AbortError"));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#env.active.delete(this);
  }

  /** Counts the ended call; a path the server does not serve is `unknown`. */
  #count(): void {
    agentMetrics.streamsOpen.add({}, -1);
    const labels = this.#env.methods.has(this.#path)
      ? methodLabels(this.#path)
      : { service: "unknown", method: "unknown" };
    agentMetrics.requests.inc({ ...labels, code: this.#code });
    agentMetrics.latency.observe(labels, (performance.now() - this.#started) / 1000);
  }
}
