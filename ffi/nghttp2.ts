/**
 * libnghttp2 (the HTTP/2 engine inside curl, Apache httpd and Node) through
 * Deno FFI, for server sessions driven from memory: bytes in through
 * `nghttp2_session_mem_recv`, bytes out through `nghttp2_session_mem_send`
 * plus the no-copy DATA path. Only what a gRPC server needs; nothing here
 * knows about gRPC or sockets.
 *
 * Lifetimes, the invariants this module keeps:
 * - The callbacks are created once, by {@linkcode Nghttp2.open}, while the
 *   process still holds the ffi permission. Every session shares them; a
 *   callback finds its session through the session's user data (a numeric
 *   id), never through a per-connection closure.
 * - A session is deleted exactly once ({@linkcode H2Session.delete}), and
 *   never from inside one of its own callbacks: a delete requested while a
 *   call into nghttp2 is running happens when that call returns. A callback
 *   that arrives for an id no longer registered fails the call
 *   (`NGHTTP2_ERR_CALLBACK_FAILURE`) instead of touching freed state. Every
 *   method of a deleted session is a no-op.
 * - An exception thrown by a handler inside a callback never crosses into C:
 *   it fails that session (fatal callback failure), which the caller turns
 *   into closing the connection.
 * - Pointers are `u64` numbers and memory goes through libc (see
 *   `_memory.ts`), so nothing needs `Deno.UnsafePointer` after start-up.
 * - Response payload bytes never enter nghttp2's memory: DATA frames use
 *   `NGHTTP2_DATA_FLAG_NO_COPY`, nghttp2 produces only the 9-byte frame
 *   header, and the payload goes from the caller's buffer to the socket.
 *
 * Struct layouts and constants are in `_nghttp2_abi.ts`, checked against
 * `nghttp2.h` by a test (the ABI of `libnghttp2.so.14` has been stable
 * since 2015).
 * @module
 */

import { dlopen } from "./_dlopen.ts";
import { NativeMemory } from "./_memory.ts";
import {
  DATA_FLAG,
  DATA_PROVIDER_SIZE,
  ERR,
  FRAME_HD,
  FRAME_TYPE,
  HEADERS_CAT_OFFSET,
  NV,
  SETTINGS_ENTRY_SIZE,
  SETTINGS_ID,
} from "./_nghttp2_abi.ts";

export { ERR, FRAME_FLAG, FRAME_TYPE, H2_ERROR, SETTINGS_ID } from "./_nghttp2_abi.ts";

const B = "buffer", U64 = "u64", USZ = "usize", ISZ = "isize", I32 = "i32", U32 = "u32";
const U8 = "u8", FN = "function", V = "void";

const SYMBOLS = {
  /** const char *nghttp2_strerror(int lib_error_code) */
  nghttp2_strerror: { parameters: [I32], result: U64 },
  /** int nghttp2_session_callbacks_new(nghttp2_session_callbacks **callbacks_ptr) */
  nghttp2_session_callbacks_new: { parameters: [B], result: I32 },
  /** void nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, nghttp2_on_begin_headers_callback) */
  nghttp2_session_callbacks_set_on_begin_headers_callback: { parameters: [U64, FN], result: V },
  /** void nghttp2_session_callbacks_set_on_header_callback(cbs, nghttp2_on_header_callback) */
  nghttp2_session_callbacks_set_on_header_callback: { parameters: [U64, FN], result: V },
  /** void nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, nghttp2_on_frame_recv_callback) */
  nghttp2_session_callbacks_set_on_frame_recv_callback: { parameters: [U64, FN], result: V },
  /** void nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, nghttp2_on_data_chunk_recv_callback) */
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback: { parameters: [U64, FN], result: V },
  /** void nghttp2_session_callbacks_set_on_stream_close_callback(cbs, nghttp2_on_stream_close_callback) */
  nghttp2_session_callbacks_set_on_stream_close_callback: { parameters: [U64, FN], result: V },
  /** void nghttp2_session_callbacks_set_send_data_callback(cbs, nghttp2_send_data_callback) */
  nghttp2_session_callbacks_set_send_data_callback: { parameters: [U64, FN], result: V },
  /** void nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, nghttp2_on_invalid_frame_recv_callback) */
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback: {
    parameters: [U64, FN],
    result: V,
  },
  /** void nghttp2_session_callbacks_del(nghttp2_session_callbacks *callbacks) */
  nghttp2_session_callbacks_del: { parameters: [U64], result: V },
  /** int nghttp2_option_new(nghttp2_option **option_ptr) */
  nghttp2_option_new: { parameters: [B], result: I32 },
  /** void nghttp2_option_del(nghttp2_option *option) */
  nghttp2_option_del: { parameters: [U64], result: V },
  /** void nghttp2_option_set_no_closed_streams(nghttp2_option *option, int val) */
  nghttp2_option_set_no_closed_streams: { parameters: [U64, I32], result: V },
  /** void nghttp2_option_set_max_outbound_ack(nghttp2_option *option, size_t val) */
  nghttp2_option_set_max_outbound_ack: { parameters: [U64, USZ], result: V },
  /** void nghttp2_option_set_max_settings(nghttp2_option *option, size_t val) */
  nghttp2_option_set_max_settings: { parameters: [U64, USZ], result: V },
  /** void nghttp2_option_set_max_continuations(nghttp2_option *option, size_t val) */
  nghttp2_option_set_max_continuations: { parameters: [U64, USZ], result: V },
  /** void nghttp2_option_set_stream_reset_rate_limit(nghttp2_option *option, uint64_t burst, uint64_t rate) */
  nghttp2_option_set_stream_reset_rate_limit: { parameters: [U64, U64, U64], result: V },
  /** int nghttp2_session_server_new2(nghttp2_session **session_ptr, const nghttp2_session_callbacks *callbacks, void *user_data, const nghttp2_option *option) */
  nghttp2_session_server_new2: { parameters: [B, U64, U64, U64], result: I32 },
  /** void nghttp2_session_del(nghttp2_session *session) */
  nghttp2_session_del: { parameters: [U64], result: V },
  /** int nghttp2_submit_settings(nghttp2_session *session, uint8_t flags, const nghttp2_settings_entry *iv, size_t niv) */
  nghttp2_submit_settings: { parameters: [U64, U8, B, USZ], result: I32 },
  /** int nghttp2_session_set_local_window_size(nghttp2_session *session, uint8_t flags, int32_t stream_id, int32_t window_size) */
  nghttp2_session_set_local_window_size: { parameters: [U64, U8, I32, I32], result: I32 },
  /** ssize_t nghttp2_session_mem_recv(nghttp2_session *session, const uint8_t *in, size_t inlen) */
  nghttp2_session_mem_recv: { parameters: [U64, B, USZ], result: ISZ },
  /** ssize_t nghttp2_session_mem_send(nghttp2_session *session, const uint8_t **data_ptr) */
  nghttp2_session_mem_send: { parameters: [U64, B], result: ISZ },
  /** int nghttp2_submit_response(session, int32_t stream_id, const nghttp2_nv *nva, size_t nvlen, const nghttp2_data_provider *data_prd) */
  nghttp2_submit_response: { parameters: [U64, I32, B, USZ, B], result: I32 },
  /** int nghttp2_submit_trailer(nghttp2_session *session, int32_t stream_id, const nghttp2_nv *nva, size_t nvlen) */
  nghttp2_submit_trailer: { parameters: [U64, I32, B, USZ], result: I32 },
  /** int nghttp2_session_resume_data(nghttp2_session *session, int32_t stream_id) */
  nghttp2_session_resume_data: { parameters: [U64, I32], result: I32 },
  /** int nghttp2_submit_rst_stream(nghttp2_session *session, uint8_t flags, int32_t stream_id, uint32_t error_code) */
  nghttp2_submit_rst_stream: { parameters: [U64, U8, I32, U32], result: I32 },
  /** int nghttp2_submit_goaway(session, uint8_t flags, int32_t last_stream_id, uint32_t error_code, const uint8_t *opaque_data, size_t opaque_data_len) */
  nghttp2_submit_goaway: { parameters: [U64, U8, I32, U32, B, USZ], result: I32 },
  /** int nghttp2_submit_shutdown_notice(nghttp2_session *session) */
  nghttp2_submit_shutdown_notice: { parameters: [U64], result: I32 },
  /** int32_t nghttp2_session_get_last_proc_stream_id(nghttp2_session *session) */
  nghttp2_session_get_last_proc_stream_id: { parameters: [U64], result: I32 },
  /** int nghttp2_session_want_read(nghttp2_session *session) */
  nghttp2_session_want_read: { parameters: [U64], result: I32 },
  /** int nghttp2_session_want_write(nghttp2_session *session) */
  nghttp2_session_want_write: { parameters: [U64], result: I32 },
  /** int nghttp2_session_terminate_session(nghttp2_session *session, uint32_t error_code) */
  nghttp2_session_terminate_session: { parameters: [U64, U32], result: I32 },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** What a session's callbacks report. Every method runs inside a call into nghttp2. */
export interface SessionHandler {
  /**
   * A HEADERS frame starts on `streamId`; `cat` is nghttp2's headers
   * category (0 request, 3 trailers/other). Return false to reset the stream.
   */
  beginHeaders(streamId: number, cat: number): boolean;
  /** One header field of the block begun last; false resets the stream. */
  header(streamId: number, name: string, value: string): boolean;
  /** DATA payload (a fresh copy); false resets the stream. */
  data(streamId: number, chunk: Uint8Array): boolean;
  /** A whole frame arrived (after its headers or data were delivered). */
  frame(type: number, flags: number, streamId: number): void;
  /** A frame the peer sent was invalid (nghttp2 handles it; for counting). */
  invalidFrame(type: number, streamId: number, error: number): void;
  /** The stream closed (sent or received END_STREAM both ways, or reset). */
  streamClose(streamId: number, errorCode: number): void;
  /**
   * The DATA source of `streamId`: how many payload bytes (at most `max`)
   * can go in the next frame, whether they are the last, and the trailers
   * to send after them. `{ length: 0, eof: false }` defers the stream until
   * {@linkcode H2Session.resumeData}.
   */
  pull(streamId: number, max: number): Pull;
  /**
   * Writes the next `length` payload bytes of `streamId` into `sink`,
   * exactly as promised by the last `pull` (its 9-byte frame header is
   * already there).
   */
  emitData(streamId: number, length: number, sink: ByteSink): void;
}

/** Where {@linkcode H2Session.send} writes the bytes to put on the wire. */
export interface ByteSink {
  /** The next `n` bytes of output, to be filled by the caller. */
  reserve(n: number): Uint8Array;
}

/** The answer of {@linkcode SessionHandler.pull}. */
export interface Pull {
  readonly length: number;
  readonly eof: boolean;
  /** Sent after the last DATA frame when `eof` (a trailers-ending stream). */
  readonly trailers?: readonly (readonly [string, string])[];
}

/** Connection settings advertised in the server's first SETTINGS frame. */
export interface H2SessionSettings {
  readonly maxConcurrentStreams: number;
  readonly initialWindowSize: number;
  readonly maxHeaderListSize: number;
  readonly maxFrameSize: number;
  /** The connection-level receive window (raised from 65,535). */
  readonly connectionWindowSize: number;
}

/** Limits nghttp2 enforces itself, fixed for every session at open. */
export interface H2EngineLimits {
  /** Most CONTINUATION frames in one header block (CVE-2024-28182). */
  readonly maxContinuations: number;
  /** Token bucket on streams reset by the peer (CVE-2023-44487 rapid reset). */
  readonly streamResetBurst: number;
  readonly streamResetRatePerSec: number;
  /** Most queued PING/SETTINGS ACKs before the session is "flooded". */
  readonly maxOutboundAck: number;
  /** Most entries in one SETTINGS frame. */
  readonly maxSettingsEntries: number;
}

/** A C address or size as a callback receives it. */
type Word = number | bigint;
const big = (x: Word): bigint => typeof x === "bigint" ? x : BigInt(x);

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** A scratch buffer whose backing store never moves, with its C address. */
interface Scratch {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly addr: bigint;
}

function scratch(mem: NativeMemory, size: number): Scratch {
  const bytes = new Uint8Array(new ArrayBuffer(size));
  return { bytes, view: new DataView(bytes.buffer), addr: mem.addressOf(bytes) };
}

/** Header blocks are packed here: `nghttp2_nv[]` first, then the strings. */
const NV_AREA = 64 * 1024;
const MAX_NV = 64;

/** The opened library: symbols, the shared callbacks, and every live session. */
export class Nghttp2 {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #s: Symbols;
  readonly #mem: NativeMemory;
  readonly #sessions = new Map<number, H2Session>();
  readonly #callbacks: Deno.UnsafeCallback[] = [];
  readonly #callbacksPtr: bigint;
  readonly #optionPtr: bigint;
  readonly #nv: Scratch;
  readonly #dataProvider: Uint8Array;
  readonly #frameHd: Scratch;
  readonly #u32: Scratch;
  readonly #text = new Uint8Array(new ArrayBuffer(4096));
  readonly #outPtr = new BigUint64Array(new ArrayBuffer(8));
  #nextId = 1;

  private constructor(libPath: string, mem: NativeMemory, limits: H2EngineLimits) {
    this.#mem = mem;
    this.#lib = dlopen(libPath, SYMBOLS);
    this.#s = this.#lib.symbols;
    this.#nv = scratch(mem, NV_AREA);
    this.#frameHd = scratch(mem, 64);
    this.#u32 = scratch(mem, 64);
    const out = new BigUint64Array(new ArrayBuffer(8));
    this.#check(this.#s.nghttp2_session_callbacks_new(new Uint8Array(out.buffer)), "callbacks_new");
    this.#callbacksPtr = out[0]!;
    this.#check(this.#s.nghttp2_option_new(new Uint8Array(out.buffer)), "option_new");
    this.#optionPtr = out[0]!;
    const o = this.#optionPtr;
    this.#s.nghttp2_option_set_no_closed_streams(o, 1);
    this.#s.nghttp2_option_set_max_continuations(o, BigInt(limits.maxContinuations));
    this.#s.nghttp2_option_set_stream_reset_rate_limit(
      o,
      BigInt(limits.streamResetBurst),
      BigInt(limits.streamResetRatePerSec),
    );
    this.#s.nghttp2_option_set_max_outbound_ack(o, BigInt(limits.maxOutboundAck));
    this.#s.nghttp2_option_set_max_settings(o, BigInt(limits.maxSettingsEntries));
    const readCb = this.#installCallbacks();
    // nghttp2_data_provider { nghttp2_data_source source; read_callback } (copied by submit).
    this.#dataProvider = new Uint8Array(new ArrayBuffer(DATA_PROVIDER_SIZE));
    new DataView(this.#dataProvider.buffer).setBigUint64(8, readCb, true);
  }

  /**
   * Opens libnghttp2 and libc (absolute paths) and creates the callbacks.
   * Needs the process-wide ffi permission (callbacks and function pointers);
   * nothing afterwards does.
   */
  static open(paths: { nghttp2: string; libc: string }, limits: H2EngineLimits): Nghttp2 {
    const mem = new NativeMemory(paths.libc);
    try {
      return new Nghttp2(paths.nghttp2, mem, limits);
    } catch (e) {
      mem.close();
      throw e;
    }
  }

  /** Live sessions (for tests and metrics). */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Starts a server session; its first SETTINGS frame is queued. */
  serverSession(handler: SessionHandler, settings: H2SessionSettings): H2Session {
    const id = this.#nextId++;
    const out = new BigUint64Array(new ArrayBuffer(8));
    this.#check(
      this.#s.nghttp2_session_server_new2(
        new Uint8Array(out.buffer),
        this.#callbacksPtr,
        BigInt(id),
        this.#optionPtr,
      ),
      "session_server_new2",
    );
    const session = new H2Session(this, id, out[0]!, handler);
    this.#sessions.set(id, session);
    const iv = new Uint8Array(new ArrayBuffer(SETTINGS_ENTRY_SIZE * 5));
    const v = new DataView(iv.buffer);
    const entries: [number, number][] = [
      [SETTINGS_ID.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
      [SETTINGS_ID.INITIAL_WINDOW_SIZE, settings.initialWindowSize],
      [SETTINGS_ID.MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize],
      [SETTINGS_ID.MAX_FRAME_SIZE, settings.maxFrameSize],
      [SETTINGS_ID.ENABLE_PUSH, 0],
    ];
    entries.forEach(([k, val], i) => {
      v.setInt32(i * SETTINGS_ENTRY_SIZE, k, true);
      v.setUint32(i * SETTINGS_ENTRY_SIZE + 4, val, true);
    });
    session.call((p) => this.#s.nghttp2_submit_settings(p, 0, iv, BigInt(entries.length)));
    session.call((p) =>
      this.#s.nghttp2_session_set_local_window_size(p, 0, 0, settings.connectionWindowSize)
    );
    return session;
  }

  /** nghttp2's text for a library error code. */
  strerror(code: number): string {
    return this.#mem.cString(this.#s.nghttp2_strerror(code));
  }

  /** @internal Forgets a deleted session. */
  forget(id: number): void {
    this.#sessions.delete(id);
  }

  /** @internal The raw symbols, for {@linkcode H2Session}. */
  get symbols(): Symbols {
    return this.#s;
  }

  /** @internal */
  get memory(): NativeMemory {
    return this.#mem;
  }

  /** @internal The data provider struct passed with a response that has a body. */
  get dataProvider(): Uint8Array {
    return this.#dataProvider;
  }

  /** @internal Writes `headers` as `nghttp2_nv[]` into the scratch area; returns the count. */
  packHeaders(headers: readonly (readonly [string, string])[]): Uint8Array {
    if (headers.length > MAX_NV) throw new RangeError(`Cannot send ${headers.length} headers`);
    const { bytes, view, addr } = this.#nv;
    let str = MAX_NV * NV.SIZE;
    headers.forEach(([k, val], i) => {
      const o = i * NV.SIZE;
      const kn = enc.encodeInto(k, bytes.subarray(str)).written;
      view.setBigUint64(o + NV.NAME, addr + BigInt(str), true);
      view.setBigUint64(o + NV.NAMELEN, BigInt(kn), true);
      str += kn;
      const vn = enc.encodeInto(val, bytes.subarray(str)).written;
      if (kn !== k.length || vn !== val.length || str + vn > NV_AREA) {
        throw new RangeError("Cannot send a header that is not ASCII or that does not fit");
      }
      view.setBigUint64(o + NV.VALUE, addr + BigInt(str), true);
      view.setBigUint64(o + NV.VALUELEN, BigInt(vn), true);
      view.setUint8(o + NV.FLAGS, 0);
      str += vn;
    });
    return bytes.subarray(0, headers.length * NV.SIZE);
  }

  /** @internal The output-pointer slot for `mem_send`. */
  get outPtr(): BigUint64Array {
    return this.#outPtr;
  }

  #check(rc: number, what: string): void {
    if (rc !== 0) throw new Error(`nghttp2 ${what} failed: ${this.strerror(rc)}`);
  }

  /** The live session a callback belongs to, or undefined (the callback then fails the call). */
  #enter(userData: Word): H2Session | undefined {
    const session = this.#sessions.get(Number(userData));
    return session && !session.deleted ? session : undefined;
  }

  /** Reads the frame header at `frame` into the scratch view (stream id at 8, type 12, flags 13). */
  #frameHeader(frame: Word): DataView {
    const f = this.#frameHd;
    this.#mem.read(f.bytes.subarray(0, FRAME_HD.SIZE), big(frame));
    return f.view;
  }

  #headersCategory(frame: Word): number {
    const f = this.#frameHd;
    this.#mem.read(f.bytes.subarray(0, 4), big(frame) + BigInt(HEADERS_CAT_OFFSET));
    return f.view.getUint32(0, true);
  }

  /** A header name or value as latin1 text (copied through a scratch buffer when short). */
  #string(addr: Word, len: Word): string {
    const n = Number(len);
    if (n === 0) return "";
    if (n > this.#text.length) return latin1.decode(this.#mem.peek(big(addr), n));
    const t = this.#text.subarray(0, n);
    this.#mem.read(t, big(addr));
    return String.fromCharCode.apply(null, t as unknown as number[]);
  }

  /**
   * Creates the shared callbacks once; returns the read callback's address.
   * Each finds its session by user data and never lets an exception reach C
   * (the session is failed instead); they allocate as little as they can,
   * since every request runs a dozen of them.
   */
  #installCallbacks(): bigint {
    const s = this.#s, cbs = this.#callbacksPtr, mem = this.#mem;
    const FAIL = ERR.CALLBACK_FAILURE, RESET = ERR.TEMPORAL_CALLBACK_FAILURE;
    const make = <D extends Deno.UnsafeCallbackDefinition>(
      def: D,
      fn: Deno.UnsafeCallbackFunction<D["parameters"], D["result"]>,
    ) => {
      const cb = new Deno.UnsafeCallback(def, fn);
      this.#callbacks.push(cb);
      return cb;
    };
    const begin = make(
      { parameters: [U64, U64, U64], result: I32 } as const,
      (_s, frame, ud) => {
        const x = this.#enter(ud);
        if (!x) return FAIL;
        try {
          const hd = this.#frameHeader(frame);
          if (hd.getUint8(FRAME_HD.TYPE) !== FRAME_TYPE.HEADERS) return 0; // no PUSH_PROMISE to a server
          const streamId = hd.getInt32(FRAME_HD.STREAM_ID, true);
          x.headersStream = streamId;
          return x.handler.beginHeaders(streamId, this.#headersCategory(frame)) ? 0 : RESET;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    // The fields of one header block arrive between its begin_headers and its
    // frame_recv, never interleaved with another block (RFC 9113 §4.3).
    const header = make(
      { parameters: [U64, U64, U64, USZ, U64, USZ, U8, U64], result: I32 } as const,
      (_s, _frame, name, namelen, value, valuelen, _flags, ud) => {
        const x = this.#enter(ud);
        if (!x) return FAIL;
        try {
          const n = this.#string(name, namelen), v = this.#string(value, valuelen);
          return x.handler.header(x.headersStream, n, v) ? 0 : RESET;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    const frameRecv = make(
      { parameters: [U64, U64, U64], result: I32 } as const,
      (_s, frame, ud) => {
        const x = this.#enter(ud);
        if (!x) return FAIL;
        try {
          const hd = this.#frameHeader(frame);
          x.handler.frame(
            hd.getUint8(FRAME_HD.TYPE),
            hd.getUint8(FRAME_HD.FLAGS),
            hd.getInt32(FRAME_HD.STREAM_ID, true),
          );
          return 0;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    const invalid = make(
      { parameters: [U64, U64, I32, U64], result: I32 } as const,
      (_s, frame, error, ud) => {
        const x = this.#enter(ud);
        if (!x) return FAIL;
        try {
          const hd = this.#frameHeader(frame);
          x.handler.invalidFrame(
            hd.getUint8(FRAME_HD.TYPE),
            hd.getInt32(FRAME_HD.STREAM_ID, true),
            error,
          );
          return 0;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    const dataChunk = make(
      { parameters: [U64, U8, I32, U64, USZ, U64], result: I32 } as const,
      (_s, _flags, streamId, data, len, ud) => {
        const x = this.#enter(ud);
        if (!x) return FAIL;
        try {
          return x.handler.data(streamId, mem.peek(big(data), Number(len))) ? 0 : RESET;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    const streamClose = make(
      { parameters: [U64, I32, U32, U64], result: I32 } as const,
      (_s, streamId, code, ud) => {
        const x = this.#enter(ud);
        if (!x) return FAIL;
        try {
          x.handler.streamClose(streamId, code);
          return 0;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    const read = make(
      { parameters: [U64, I32, U64, USZ, U64, U64, U64], result: ISZ } as const,
      (_s, streamId, _buf, length, dataFlags, _src, ud) => {
        const x = this.#enter(ud);
        if (!x) return BigInt(FAIL);
        try {
          const p = x.handler.pull(streamId, Number(length));
          if (p.length === 0 && !p.eof) return BigInt(ERR.DEFERRED);
          let flags = DATA_FLAG.NO_COPY;
          if (p.eof) flags |= DATA_FLAG.EOF | (p.trailers ? DATA_FLAG.NO_END_STREAM : 0);
          const u = this.#u32;
          u.view.setUint32(0, flags, true);
          mem.write(big(dataFlags), u.bytes.subarray(0, 4));
          if (p.eof && p.trailers) {
            const nva = this.packHeaders(p.trailers);
            const rc = s.nghttp2_submit_trailer(x.ptr, streamId, nva, BigInt(p.trailers.length));
            if (rc !== 0) return BigInt(RESET);
          }
          return BigInt(p.length);
        } catch (e) {
          x.fail(e);
          return BigInt(FAIL);
        }
      },
    );
    // A NO_COPY DATA frame: its 9-byte header (which names the stream) from
    // nghttp2, then the payload from the handler, both into the same sink.
    const sendData = make(
      { parameters: [U64, U64, U64, USZ, U64, U64], result: I32 } as const,
      (_s, _frame, framehd, length, _src, ud) => {
        const x = this.#enter(ud);
        const sink = x?.sink;
        if (!x || !sink) return FAIL;
        try {
          const hd = sink.reserve(9);
          mem.read(hd, big(framehd));
          const streamId = new DataView(hd.buffer, hd.byteOffset, 9).getUint32(5) & 0x7fffffff;
          x.handler.emitData(streamId, Number(length), sink);
          return 0;
        } catch (e) {
          x.fail(e);
          return FAIL;
        }
      },
    );
    s.nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin.pointer);
    s.nghttp2_session_callbacks_set_on_header_callback(cbs, header.pointer);
    s.nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frameRecv.pointer);
    s.nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, invalid.pointer);
    s.nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, dataChunk.pointer);
    s.nghttp2_session_callbacks_set_on_stream_close_callback(cbs, streamClose.pointer);
    s.nghttp2_session_callbacks_set_send_data_callback(cbs, sendData.pointer);
    return BigInt(Deno.UnsafePointer.value(read.pointer));
  }
}

/** One server session. Methods are no-ops (returning an error code) once deleted. */
export class H2Session {
  readonly #ng: Nghttp2;
  readonly #id: number;
  #ptr: bigint;
  #depth = 0;
  #deletePending = false;
  #failure: unknown;
  readonly handler: SessionHandler;
  /** @internal The stream whose header block is being received. */
  headersStream = 0;
  /** @internal Where {@linkcode send} is writing, while it runs. */
  sink: ByteSink | undefined;

  /** @internal Created by {@linkcode Nghttp2.serverSession}. */
  constructor(ng: Nghttp2, id: number, ptr: bigint, handler: SessionHandler) {
    this.#ng = ng;
    this.#id = id;
    this.#ptr = ptr;
    this.handler = handler;
  }

  /** @internal The session pointer (valid while not deleted). */
  get ptr(): bigint {
    return this.#ptr;
  }

  /** Whether the session has been deleted (or is about to be). */
  get deleted(): boolean {
    return this.#ptr === 0n || this.#deletePending;
  }

  /** The exception a handler threw inside a callback, if any (the session is then failed). */
  get failure(): unknown {
    return this.#failure;
  }

  /** @internal Records a handler exception. */
  fail(e: unknown): void {
    this.#failure ??= e;
  }

  /**
   * Runs one call into nghttp2 with this session's pointer. Returns
   * `ERR.INVALID_STATE` without calling when the session is deleted.
   */
  call(fn: (ptr: bigint) => number): number {
    if (this.deleted) return ERR.INVALID_STATE;
    this.#depth++;
    try {
      return fn(this.#ptr);
    } finally {
      this.#depth--;
      if (this.#depth === 0 && this.#deletePending) this.#free();
    }
  }

  /** Feeds received bytes. Negative: a fatal error (close the connection). */
  recv(bytes: Uint8Array): number {
    const s = this.#ng.symbols;
    return this.call((p) => Number(s.nghttp2_session_mem_recv(p, bytes, BigInt(bytes.length))));
  }

  /**
   * Serializes everything nghttp2 has queued into `sink`, in order: the
   * frames nghttp2 built are copied in as it returns them, and each DATA
   * payload by the handler's `emitData`. Negative: fatal.
   */
  send(sink: ByteSink): number {
    const s = this.#ng.symbols, mem = this.#ng.memory, slot = this.#ng.outPtr;
    const slotBytes = new Uint8Array(slot.buffer);
    this.sink = sink;
    try {
      return this.call((p) => {
        for (;;) {
          const n = Number(s.nghttp2_session_mem_send(p, slotBytes));
          if (n <= 0) return n;
          mem.read(sink.reserve(n), slot[0]!);
        }
      });
    } finally {
      this.sink = undefined;
    }
  }

  /** Submits response headers; `withBody` attaches the shared DATA source. */
  respond(
    streamId: number,
    headers: readonly (readonly [string, string])[],
    withBody: boolean,
  ): number {
    const s = this.#ng.symbols;
    return this.call((p) =>
      s.nghttp2_submit_response(
        p,
        streamId,
        this.#ng.packHeaders(headers),
        BigInt(headers.length),
        withBody ? this.#ng.dataProvider : null,
      )
    );
  }

  /** Wakes a deferred DATA source. */
  resumeData(streamId: number): number {
    const s = this.#ng.symbols;
    return this.call((p) => s.nghttp2_session_resume_data(p, streamId));
  }

  /** Resets a stream with an HTTP/2 error code. */
  reset(streamId: number, errorCode: number): number {
    const s = this.#ng.symbols;
    return this.call((p) => s.nghttp2_submit_rst_stream(p, 0, streamId, errorCode));
  }

  /** Sends the graceful-shutdown notice (GOAWAY with the maximum stream id). */
  shutdownNotice(): number {
    const s = this.#ng.symbols;
    return this.call((p) => s.nghttp2_submit_shutdown_notice(p));
  }

  /** GOAWAY naming the last stream processed: later streams are refused. */
  goaway(errorCode: number): number {
    const s = this.#ng.symbols;
    return this.call((p) =>
      s.nghttp2_submit_goaway(
        p,
        0,
        s.nghttp2_session_get_last_proc_stream_id(p),
        errorCode,
        null,
        0n,
      )
    );
  }

  /** Ends the session with GOAWAY(errorCode); it stops reading. */
  terminate(errorCode: number): number {
    const s = this.#ng.symbols;
    return this.call((p) => s.nghttp2_session_terminate_session(p, errorCode));
  }

  /** Whether nghttp2 still wants to read or write (false for both: close the connection). */
  get wantsIo(): boolean {
    if (this.deleted) return false;
    const s = this.#ng.symbols, p = this.#ptr;
    return s.nghttp2_session_want_read(p) !== 0 || s.nghttp2_session_want_write(p) !== 0;
  }

  /**
   * Deletes the session exactly once: now, or when the running call into
   * nghttp2 returns. Safe to call twice.
   */
  delete(): void {
    if (this.#ptr === 0n) return;
    this.#deletePending = true;
    if (this.#depth === 0) this.#free();
  }

  #free(): void {
    const p = this.#ptr;
    this.#ptr = 0n;
    this.#ng.forget(this.#id);
    this.#ng.symbols.nghttp2_session_del(p);
  }
}
