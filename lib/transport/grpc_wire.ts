/**
 * gRPC over HTTP/2, the wire details (grpc/grpc doc/PROTOCOL-HTTP2.md):
 * status codes, length-prefixed messages read with a size cap checked
 * before anything is allocated, `grpc-timeout`, and the percent-encoding
 * of `grpc-message`.
 * @module
 */

/** gRPC status codes. */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code. */
export type GrpcStatusCode = (typeof GRPC_STATUS)[keyof typeof GRPC_STATUS];

/** A call's outcome as sent in trailers. `details` becomes `grpc-status-details-bin`. */
export class StatusError extends Error {
  constructor(
    readonly code: GrpcStatusCode,
    message: string,
    readonly details?: Uint8Array,
  ) {
    super(message);
    this.name = "StatusError";
  }
}

/** Longest `grpc-message` sent, in bytes before percent-encoding. */
const MAX_MESSAGE_BYTES = 1024;

/** Percent-encodes a status message (everything outside printable ASCII, and `%`). */
export function encodeGrpcMessage(message: string): string {
  const bytes = new TextEncoder().encode(message).subarray(0, MAX_MESSAGE_BYTES);
  let out = "";
  for (const b of bytes) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The trailer list for a status. */
export function statusTrailers(
  code: GrpcStatusCode,
  message: string,
  details?: Uint8Array,
): [string, string][] {
  const t: [string, string][] = [["grpc-status", String(code)]];
  if (message !== "") t.push(["grpc-message", encodeGrpcMessage(message)]);
  if (details && details.length > 0) {
    t.push(["grpc-status-details-bin", base64NoPad(details)]);
  }
  return t;
}

function base64NoPad(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/=+$/, "");
}

const TIMEOUT_RE = /^(\d{1,8})([HMSmun])$/;
const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/**
 * Milliseconds of a `grpc-timeout` value (`1-8 digits` + `H M S m u n`), or
 * undefined when malformed. Values longer than a timer can hold are capped.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = TIMEOUT_RE.exec(value);
  if (!m) return undefined;
  return Math.min(Number(m[1]) * UNIT_MS[m[2]!]!, 2 ** 31 - 1);
}

/** Frames one message: flag 0 (uncompressed), u32 BE length, bytes. */
export function frameMessage(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** Why a request body was refused by {@linkcode MessageReader}. */
export type ReadFault = "compressed" | "bad_flag" | "too_large" | "extra_message";

/**
 * Reassembles request messages from DATA chunks: the one message of a unary
 * or server-streaming call, or (`many`) each message of a bidirectional
 * call in turn, taken with {@linkcode MessageReader.take}. The length prefix
 * is checked against `maxBytes` before the message buffer is allocated;
 * chunks are copied in and zeroed.
 */
export class MessageReader {
  readonly #max: number;
  readonly #prefix = new Uint8Array(5);
  #prefixFill = 0;
  #message: Uint8Array | undefined;
  #fill = 0;
  #done = false;
  #fault: ReadFault | undefined;
  readonly #many: boolean;
  readonly #ready: Uint8Array[] = [];

  constructor(maxBytes: number, many = false) {
    this.#max = maxBytes;
    this.#many = many;
  }

  /** The first fault, if any (the reader ignores everything after it). */
  get fault(): ReadFault | undefined {
    return this.#fault;
  }

  /** Consumes a chunk (and zeroes it). */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.#fault === undefined) {
      if (this.#done) {
        this.#fault = "extra_message";
        break;
      }
      if (this.#prefixFill < 5) {
        const take = Math.min(5 - this.#prefixFill, chunk.length - i);
        this.#prefix.set(chunk.subarray(i, i + take), this.#prefixFill);
        this.#prefixFill += take;
        i += take;
        if (this.#prefixFill < 5) break;
        const flag = this.#prefix[0]!;
        if (flag === 1) this.#fault = "compressed";
        else if (flag !== 0) this.#fault = "bad_flag";
        const len = new DataView(this.#prefix.buffer).getUint32(1);
        if (this.#fault === undefined && len > this.#max) this.#fault = "too_large";
        if (this.#fault !== undefined) break;
        this.#message = new Uint8Array(len);
        this.#fill = 0;
        if (len === 0) this.#complete();
        continue;
      }
      const msg = this.#message!;
      const take = Math.min(msg.length - this.#fill, chunk.length - i);
      msg.set(chunk.subarray(i, i + take), this.#fill);
      this.#fill += take;
      i += take;
      if (this.#fill === msg.length) this.#complete();
    }
    chunk.fill(0);
  }

  #complete(): void {
    if (!this.#many) {
      this.#done = true;
      return;
    }
    this.#ready.push(this.#message!);
    this.#message = undefined;
    this.#prefixFill = 0;
  }

  /** The next complete message of a `many` reader (the caller owns and zeroes it). */
  take(): Uint8Array | undefined {
    return this.#fault === undefined ? this.#ready.shift() : undefined;
  }

  /** Complete messages not yet taken. */
  get pending(): number {
    return this.#ready.length;
  }

  /** Whether the body ended between messages (no partial message left). */
  get atBoundary(): boolean {
    return this.#prefixFill === 0;
  }

  /** The complete message, or undefined when none (or only part of one) arrived. */
  message(): Uint8Array | undefined {
    return this.#done && this.#fault === undefined ? this.#message : undefined;
  }

  /** Zeroes whatever was received and not taken. */
  wipe(): void {
    this.#message?.fill(0);
    this.#prefix.fill(0);
    for (const m of this.#ready.splice(0)) m.fill(0);
  }
}
