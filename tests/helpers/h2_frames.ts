/**
 * Hand-built HTTP/2 frames (RFC 9113) for abuse tests: a client that sends
 * exactly the bytes a test wants, valid or not. HPACK is only literal fields
 * without indexing and without Huffman coding (RFC 7541 §6.2.2), enough to
 * build any request or a header block of any size.
 */

import net from "node:net";

/** The client connection preface. */
export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Frame types and flags used by the tests. */
export const T = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

/** One frame: 9-byte header then the payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(),
): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  const v = new DataView(f.buffer);
  v.setUint32(0, payload.length << 8);
  f[3] = type;
  f[4] = flags;
  v.setUint32(5, streamId & 0x7fffffff);
  f.set(payload, 9);
  return f;
}

/** A SETTINGS frame from `[id, value]` pairs. */
export function settings(entries: readonly [number, number][] = []): Uint8Array {
  const p = new Uint8Array(6 * entries.length);
  const v = new DataView(p.buffer);
  entries.forEach(([k, val], i) => {
    v.setUint16(6 * i, k);
    v.setUint32(6 * i + 2, val);
  });
  return frame(T.SETTINGS, 0, 0, p);
}

function hpackInt(n: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [first | n];
  const out = [first | max];
  n -= max;
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A header block of literal fields (never indexed, no Huffman). */
export function hpack(fields: readonly [string, string][]): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (const [name, value] of fields) {
    const n = enc.encode(name), v = enc.encode(value);
    out.push(0x10, ...hpackInt(n.length, 7, 0), ...n, ...hpackInt(v.length, 7, 0));
    for (const b of v) out.push(b);
  }
  return Uint8Array.from(out);
}

/** The request header fields of a gRPC call to `path`. */
export function grpcRequest(path: string): [string, string][] {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
}

/** A length-prefixed gRPC message. */
export function grpcMessage(body: Uint8Array): Uint8Array {
  const f = new Uint8Array(5 + body.length);
  new DataView(f.buffer).setUint32(1, body.length);
  f.set(body, 5);
  return f;
}

/** A frame as received. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
}

/** A raw connection that records everything the server sends and whether it closed. */
export class RawH2 {
  readonly socket: net.Socket;
  received = 0;
  #bytes = new Uint8Array();
  closed = false;
  readonly #closedP: Promise<void>;

  constructor(path: string, o: { read?: boolean } = {}) {
    this.socket = net.connect(path);
    this.socket.on("error", () => {});
    if (o.read === false) this.socket.pause();
    else this.read();
    this.#closedP = new Promise((r) =>
      this.socket.once("close", () => {
        this.closed = true;
        r();
      })
    );
  }

  /** Starts (or resumes) reading; a paused socket cannot see the server close it. */
  read(): void {
    this.socket.on("data", (d: Uint8Array) => {
      this.received += d.length;
      const all = new Uint8Array(this.#bytes.length + d.length);
      all.set(this.#bytes);
      all.set(d, this.#bytes.length);
      this.#bytes = all;
    });
    this.socket.resume();
  }

  /** The whole frames received so far, in order. */
  frames(): Frame[] {
    const out: Frame[] = [];
    const b = this.#bytes;
    let o = 0;
    while (o + 9 <= b.length) {
      const len = (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
      if (o + 9 + len > b.length) break;
      const v = new DataView(b.buffer, b.byteOffset + o);
      out.push({
        type: b[o + 3]!,
        flags: b[o + 4]!,
        streamId: v.getUint32(5) & 0x7fffffff,
        payload: b.slice(o + 9, o + 9 + len),
      });
      o += 9 + len;
    }
    return out;
  }

  /** Resolves with the first received frame `match` accepts (checked on every chunk). */
  frame(match: (f: Frame) => boolean): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames().find(match);
        if (f) {
          this.socket.off("data", check);
          resolve(f);
        } else if (this.closed) reject(new Error("closed before the frame arrived"));
      };
      this.socket.on("data", check);
      this.socket.once("close", check);
      check();
    });
  }

  /** Resolves once connected; rejects with the connect error (e.g. EAGAIN: a full backlog). */
  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once("connect", () => resolve());
      this.socket.once("error", reject);
    });
  }

  /** Writes bytes; resolves when the kernel took them (or the socket failed). */
  write(...chunks: Uint8Array[]): Promise<void> {
    return new Promise((r) => {
      let left = chunks.length;
      if (left === 0) r();
      for (const c of chunks) this.socket.write(c, () => --left === 0 && r());
    });
  }

  /** Resolves when the server closes the connection. */
  whenClosed(): Promise<void> {
    return this.#closedP;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
