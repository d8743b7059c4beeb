/**
 * One HTTP/2 server connection: a `node:net` socket driving an nghttp2
 * session (ffi/nghttp2.ts). Bytes from the socket go into the session;
 * frames come out in order, DATA payloads straight from the response
 * buffers (which are zeroed once the socket has taken them, as are received
 * bytes once parsed).
 *
 * Limits and protections (all per connection; see {@linkcode H2Limits}):
 * - the client must finish its preface and first SETTINGS within
 *   `handshakeMs`, and each request's headers and body within `requestMs`
 *   (slowloris); a connection with no stream for `idleMs` gets GOAWAY;
 * - request bodies not yet handed to a stream handler may buffer at most
 *   `maxBufferedBytes` across the connection (each stream is separately
 *   capped by its handler); a stream over that is reset;
 * - header lists are capped at `settings.maxHeaderListSize` bytes
 *   (RFC 9113 §6.5.2 accounting); nghttp2 itself caps CONTINUATION frames,
 *   the rate of streams reset by the peer, queued PING/SETTINGS ACKs and
 *   SETTINGS entries (see H2EngineLimits), and any of those floods ends the
 *   connection;
 * - a stream handler that writes faster than the client reads is held back:
 *   `write` reports false over `highWaterBytes`, and `drained()` resolves
 *   when it is below again. Nothing is read from nghttp2 while the socket
 *   itself is backed up.
 *
 * Nothing from a closed connection or stream is touched again: every path
 * that can run late (handler promises, timers, socket events) checks
 * `closed` first, and the session is deleted exactly once (on close).
 * @module
 */

import type net from "node:net";
import { ERR, FRAME_FLAG, FRAME_TYPE, H2_ERROR } from "../../ffi/nghttp2.ts";
import type {
  ByteSink,
  H2Session,
  H2SessionSettings,
  Nghttp2,
  Pull,
  SessionHandler,
} from "../../ffi/nghttp2.ts";

/** A response or trailer header list. */
export type HeaderList = readonly (readonly [string, string])[];

/** The per-connection limits. */
export interface H2Limits {
  readonly settings: H2SessionSettings;
  /** Received request bytes buffered across the connection before dispatch. */
  readonly maxBufferedBytes: number;
  /** A stream handler's queued response bytes above which `write` reports false. */
  readonly highWaterBytes: number;
  readonly handshakeMs: number;
  readonly requestMs: number;
  readonly idleMs: number;
}

/** The response side of one stream, given to its {@linkcode StreamHandler}. */
export interface ServerStream {
  readonly id: number;
  /** True once the stream has closed (finished, reset, or the connection went away). */
  readonly closed: boolean;
  /** Sends response headers, with a body (DATA then trailers) to follow. */
  respond(headers: HeaderList): void;
  /** Sends one HEADERS frame that ends the stream (a trailers-only response). */
  respondOnly(headers: HeaderList): void;
  /** Queues body bytes (the stream owns them now and zeroes them once sent). False: over the high-water mark. */
  write(bytes: Uint8Array): boolean;
  /** Resolves when queued bytes fall below the high-water mark or the stream closes. */
  drained(): Promise<void>;
  /** Ends the body with trailers (after every queued byte). */
  end(trailers: HeaderList): void;
  /** Resets the stream (RST_STREAM). */
  reset(errorCode: number): void;
}

/** What a request stream reports; made by the server when a request's headers are complete. */
export interface StreamHandler {
  /** Body bytes (a fresh copy). Return false to reset the stream. */
  data(chunk: Uint8Array): boolean;
  /** The client finished its request (END_STREAM). */
  end(): void;
  /** The stream closed; `errorCode` is H2_ERROR.NO_ERROR for a normal end. */
  close(errorCode: number): void;
}

/** Makes the handler of a new request; `headers` are lowercased, values in order. */
export type StreamFactory = (
  stream: ServerStream,
  headers: ReadonlyMap<string, readonly string[]>,
) => StreamHandler;

/**
 * Something that ended or limited a connection: a misbehaving client
 * (`protocol`, `flood`, `timeout`, `limit`; counted and logged at a bounded
 * rate), or a fault of ours in a callback (`internal`, with the error's type).
 */
export interface H2Abuse {
  readonly kind: "protocol" | "flood" | "timeout" | "limit" | "internal";
  readonly detail: string;
}

/** How long a half-closed connection may wait for its peer to close. */
const LINGER_MS = 5000;

interface StreamState {
  readonly id: number;
  readonly openedAt: number;
  headers: Map<string, string[]> | undefined;
  headerBytes: number;
  handler: StreamHandler | undefined;
  requestDone: boolean;
  timedOut: boolean;
  received: number;
  out: Uint8Array[];
  outOffset: number;
  outBytes: number;
  ended: boolean;
  trailers: HeaderList | undefined;
  deferred: boolean;
  responded: boolean;
  closed: boolean;
  drainWaiters: (() => void)[];
  api: ServerStream | undefined;
}

/** A connection; created by the server for each accepted socket. */
export class H2Connection implements SessionHandler {
  readonly #socket: net.Socket;
  readonly #session: H2Session;
  readonly #limits: H2Limits;
  readonly #factory: StreamFactory;
  readonly #onAbuse: (a: H2Abuse) => void;
  readonly #onClosed: () => void;
  readonly #streams = new Map<number, StreamState>();
  readonly #openedAt = Date.now();
  #handshaken = false;
  #idleSince = Date.now();
  #buffered = 0;
  #closed = false;
  #draining = false;
  #blocked = false;
  #flushQueued = false;
  readonly #out = new OutputBuffer();
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(o: {
    socket: net.Socket;
    engine: Nghttp2;
    limits: H2Limits;
    factory: StreamFactory;
    onAbuse: (a: H2Abuse) => void;
    onClosed: () => void;
  }) {
    this.#socket = o.socket;
    this.#limits = o.limits;
    this.#factory = o.factory;
    this.#onAbuse = o.onAbuse;
    this.#onClosed = o.onClosed;
    this.#session = o.engine.serverSession(this, o.limits.settings);
    o.socket.on("data", (buf: Uint8Array) => this.#receive(buf));
    o.socket.on("drain", () => {
      this.#blocked = false;
      this.#flush();
    });
    o.socket.once("close", () => {
      clearTimeout(this.#linger);
      this.#close();
    });
    o.socket.on("error", () => {});
    this.#flush();
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Open streams. */
  get streams(): number {
    return this.#streams.size;
  }

  /**
   * Graceful shutdown: GOAWAY naming the last stream taken; streams already
   * running finish, new ones are refused; the socket closes when none is left.
   */
  shutdown(): void {
    if (this.#closed || this.#draining) return;
    this.#draining = true;
    this.#session.goaway(H2_ERROR.NO_ERROR);
    this.#flush();
    this.#closeIfDone();
  }

  /** Closes at once: every stream is cancelled. */
  destroy(): void {
    this.#socket.destroy();
    this.#close();
  }

  /** Enforces the time limits; called about once a second by the server. */
  tick(now: number): void {
    if (this.#closed) return;
    const l = this.#limits;
    if (!this.#handshaken && now - this.#openedAt > l.handshakeMs) {
      this.#abuse("timeout", "no HTTP/2 preface and SETTINGS in time");
      this.destroy();
      return;
    }
    let reset = false;
    for (const st of this.#streams.values()) {
      if (!st.requestDone && !st.timedOut && now - st.openedAt > l.requestMs) {
        st.timedOut = true;
        reset = true;
        this.#abuse("timeout", "request not complete in time");
        this.#session.reset(st.id, H2_ERROR.CANCEL);
      }
    }
    if (reset) this.#flush();
    if (this.#streams.size === 0 && now - this.#idleSince > l.idleMs) this.shutdown();
  }

  // ---- socket side ----

  #receive(buf: Uint8Array): void {
    if (this.#closed) return;
    const rc = this.#session.recv(buf);
    buf.fill(0); // request bytes may carry secrets; they are copied out by now
    if (rc < 0) {
      const failure = this.#session.failure;
      if (failure !== undefined) {
        // A bug of ours in a callback: this connection ends, the process goes on.
        this.#abuse("internal", failure instanceof Error ? failure.name : "non-error value");
      } else if (rc === ERR.FLOODED) this.#abuse("flood", "flood");
      else this.#abuse("protocol", rc === ERR.BAD_CLIENT_MAGIC ? "bad preface" : `error ${rc}`);
      this.#shut();
      return;
    }
    this.#flush();
  }

  #flush(): void {
    if (this.#flushQueued || this.#closed) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flushNow();
    });
  }

  #flushNow(): void {
    if (this.#closed || this.#blocked) return;
    const rc = this.#writeOut();
    if (rc < 0) {
      this.#abuse("protocol", `send error ${rc}`);
      this.destroy();
      return;
    }
    if (!this.#session.wantsIo) this.#shut();
  }

  /**
   * Serializes what nghttp2 has queued into one buffer and writes it (one
   * write per flush); returns nghttp2's code. The buffer is zeroed once the
   * socket has taken it (it may hold response payloads).
   */
  #writeOut(): number {
    const rc = this.#session.send(this.#out);
    const chunk = this.#out.take();
    if (chunk) {
      if (!this.#socket.write(chunk, () => chunk.fill(0))) this.#blocked = true;
    }
    return rc;
  }

  /**
   * Sends what nghttp2 still has (a GOAWAY, final frames), then closes: a
   * half-close when the peer is reading, at once when it is not (a client
   * that never reads must not keep the socket), and never later than
   * {@linkcode LINGER_MS} after.
   */
  #shut(): void {
    if (this.#closed) return;
    if (!this.#blocked) this.#writeOut();
    if (this.#blocked) this.#socket.destroy();
    else {
      this.#socket.end();
      this.#linger = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    }
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const st of this.#streams.values()) this.#finishStream(st, H2_ERROR.CANCEL);
    this.#streams.clear();
    this.#out.take()?.fill(0);
    this.#session.delete();
    this.#onClosed();
  }

  #closeIfDone(): void {
    if (this.#draining && this.#streams.size === 0) {
      this.#flush();
      queueMicrotask(() => {
        if (!this.#closed && this.#streams.size === 0) this.#shut();
      });
    }
  }

  #abuse(kind: H2Abuse["kind"], detail: string): void {
    this.#onAbuse({ kind, detail });
  }

  // ---- nghttp2 callbacks (run inside recv/send) ----

  /** @internal */
  beginHeaders(streamId: number, cat: number): boolean {
    this.#handshaken = true;
    if (cat !== 0) return this.#streams.has(streamId); // trailers of a known request
    if (this.#draining) return false;
    this.#streams.set(streamId, {
      id: streamId,
      openedAt: Date.now(),
      headers: new Map(),
      headerBytes: 0,
      handler: undefined,
      requestDone: false,
      timedOut: false,
      received: 0,
      out: [],
      outOffset: 0,
      outBytes: 0,
      ended: false,
      trailers: undefined,
      deferred: false,
      responded: false,
      closed: false,
      drainWaiters: [],
      api: undefined,
    });
    return true;
  }

  /** @internal */
  header(streamId: number, name: string, value: string): boolean {
    const st = this.#streams.get(streamId);
    if (!st) return false;
    st.headerBytes += name.length + value.length + 32;
    if (st.headerBytes > this.#limits.settings.maxHeaderListSize) {
      this.#abuse("limit", "header list too large");
      return false;
    }
    if (st.headers === undefined) return true; // request trailers: not used by gRPC
    const list = st.headers.get(name);
    if (list) list.push(value);
    else st.headers.set(name, [value]);
    return true;
  }

  /** @internal */
  data(streamId: number, chunk: Uint8Array): boolean {
    const st = this.#streams.get(streamId);
    if (!st?.handler) return true; // nothing to give it to: dropped
    this.#buffered += chunk.length;
    st.received += chunk.length;
    if (this.#buffered > this.#limits.maxBufferedBytes) {
      this.#abuse("limit", "request bytes over the connection budget");
      chunk.fill(0);
      return false;
    }
    return st.handler.data(chunk);
  }

  /** @internal */
  frame(type: number, flags: number, streamId: number): void {
    if (type === FRAME_TYPE.SETTINGS) this.#handshaken = true;
    if (type !== FRAME_TYPE.HEADERS && type !== FRAME_TYPE.DATA) return;
    const st = this.#streams.get(streamId);
    if (!st || st.closed) return;
    if (type === FRAME_TYPE.HEADERS && st.headers !== undefined) {
      const headers = st.headers;
      st.headers = undefined;
      st.api = this.#api(st);
      st.handler = this.#factory(st.api, headers);
    }
    if (flags & FRAME_FLAG.END_STREAM && !st.requestDone) {
      st.requestDone = true;
      this.#releaseReceived(st); // the whole request is now the handler's
      st.handler?.end();
    }
  }

  /** @internal */
  invalidFrame(type: number, _streamId: number, error: number): void {
    this.#abuse("protocol", `invalid frame type ${type} (${error})`);
  }

  /** @internal */
  streamClose(streamId: number, errorCode: number): void {
    const st = this.#streams.get(streamId);
    if (!st) return;
    this.#streams.delete(streamId);
    this.#finishStream(st, errorCode);
    if (this.#streams.size === 0) this.#idleSince = Date.now();
    this.#closeIfDone();
  }

  /** @internal */
  pull(streamId: number, max: number): Pull {
    const st = this.#streams.get(streamId);
    if (!st) return { length: 0, eof: true };
    const length = Math.min(max, st.outBytes);
    const eof = st.ended && length === st.outBytes;
    if (length === 0 && !eof) {
      st.deferred = true;
      return { length: 0, eof: false };
    }
    return eof ? { length, eof, trailers: st.trailers ?? [] } : { length, eof };
  }

  /** @internal */
  emitData(streamId: number, length: number, sink: ByteSink): void {
    const st = this.#streams.get(streamId);
    if (!st) throw new Error("DATA for an unknown stream");
    let left = length;
    while (left > 0) {
      const head = st.out[0];
      if (!head) throw new Error("DATA beyond the queued bytes");
      const take = Math.min(left, head.length - st.outOffset);
      sink.reserve(take).set(head.subarray(st.outOffset, st.outOffset + take));
      st.outOffset += take;
      left -= take;
      if (st.outOffset === head.length) {
        st.out.shift();
        st.outOffset = 0;
        head.fill(0); // copied out: the response bytes live only in the output buffer now
      }
    }
    st.outBytes -= length;
    if (st.outBytes < this.#limits.highWaterBytes) wakeAll(st);
  }

  // ---- the stream API given to handlers ----

  #api(st: StreamState): ServerStream {
    const live = () => !st.closed && !this.#closed;
    const high = this.#limits.highWaterBytes;
    return {
      id: st.id,
      get closed() {
        return !live();
      },
      respond: (headers) => {
        if (!live() || st.responded) return;
        st.responded = true;
        this.#session.respond(st.id, headers, true);
        this.#flush();
      },
      respondOnly: (headers) => {
        if (!live() || st.responded) return;
        st.responded = true;
        st.ended = true;
        this.#session.respond(st.id, headers, false);
        this.#flush();
      },
      write: (bytes) => {
        if (!live() || st.ended) {
          bytes.fill(0);
          return false;
        }
        st.out.push(bytes);
        st.outBytes += bytes.length;
        this.#resume(st);
        return st.outBytes < high;
      },
      drained: () => {
        if (!live() || st.outBytes < high) return Promise.resolve();
        return new Promise((r) => st.drainWaiters.push(r));
      },
      end: (trailers) => {
        if (!live() || st.ended) return;
        st.ended = true;
        st.trailers = trailers;
        this.#resume(st);
      },
      reset: (code) => {
        if (!live()) return;
        this.#session.reset(st.id, code);
        this.#flush();
      },
    };
  }

  #resume(st: StreamState): void {
    if (st.deferred) {
      st.deferred = false;
      this.#session.resumeData(st.id);
    }
    this.#flush();
  }

  #finishStream(st: StreamState, errorCode: number): void {
    if (st.closed) return;
    st.closed = true;
    this.#releaseReceived(st);
    wipeAll(st.out);
    st.out = [];
    st.outBytes = 0;
    wakeAll(st);
    st.handler?.close(errorCode);
  }

  #releaseReceived(st: StreamState): void {
    this.#buffered -= st.received;
    st.received = 0;
  }
}

function wakeAll(st: StreamState): void {
  const ws = st.drainWaiters;
  st.drainWaiters = [];
  for (const w of ws) w();
}

function wipeAll(bufs: Uint8Array[]): void {
  for (const b of bufs) b.fill(0);
}

/**
 * A connection's output between two writes: nghttp2's frames and the
 * payloads copied in one after another, handed to the socket as one buffer.
 * The scratch area is reused (and zeroed after each take).
 */
class OutputBuffer implements ByteSink {
  #buf = new Uint8Array(16 * 1024);
  #len = 0;

  reserve(n: number): Uint8Array {
    if (this.#len + n > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf.fill(0);
      this.#buf = bigger;
    }
    const out = this.#buf.subarray(this.#len, this.#len + n);
    this.#len += n;
    return out;
  }

  /** The bytes written since the last take (a copy), or undefined when none. */
  take(): Uint8Array | undefined {
    if (this.#len === 0) return undefined;
    const out = this.#buf.slice(0, this.#len);
    this.#buf.fill(0, 0, this.#len);
    this.#len = 0;
    return out;
  }
}
