/**
 * age stanzas on a byte stream, as the age plugin IPC protocol sends them
 * (C2SP age-plugin): `-> TAG ARG…\n` then the body as standard base64
 * without padding, wrapped at 64 columns, ended by a line shorter than 64
 * (an empty line when the body is empty or a multiple of 48 bytes).
 *
 * Invariants: bodies stay bytes end to end (a file key or PIN never becomes
 * a JS string); decoding is canonical and strict (non-canonical base64, a
 * missing `-> ` prefix or an over-long line are `StanzaError`s); every line
 * is capped at 4 KiB (whether or not its newline arrived in the same chunk)
 * and a body at 64 KiB so a misbehaving plugin cannot exhaust memory; on a
 * `StanzaError` the body lines already read are wiped.
 * @module
 */

import { base64UrlAscii, decodeBase64Url } from "../../core/encoding.ts";

/** One protocol stanza. */
export interface WireStanza {
  /** The tag followed by its arguments. */
  readonly args: readonly string[];
  /** The body bytes (owned by the receiver). */
  readonly body: Uint8Array;
}

/** A malformed stanza from the peer. */
export class StanzaError extends Error {
  constructor(what: string) {
    super(`malformed age plugin stanza: ${what}`);
    this.name = "StanzaError";
  }
}

const MAX_LINE = 4096;
const MAX_BODY = 65536;
const COLS = 64;

function toStd(ascii: Uint8Array): Uint8Array {
  for (let i = 0; i < ascii.length; i++) {
    if (ascii[i] === 0x2d) ascii[i] = 0x2b;
    else if (ascii[i] === 0x5f) ascii[i] = 0x2f;
  }
  return ascii;
}

function fromStd(ascii: Uint8Array): Uint8Array | undefined {
  const copy = ascii.slice();
  for (let i = 0; i < copy.length; i++) {
    if (copy[i] === 0x2b) copy[i] = 0x2d;
    else if (copy[i] === 0x2f) copy[i] = 0x5f;
    else if (copy[i] === 0x2d || copy[i] === 0x5f) {
      copy.fill(0);
      return undefined;
    }
  }
  const out = decodeBase64Url(copy);
  copy.fill(0);
  return out;
}

/** Encodes one stanza (the caller wipes the result if the body is secret). */
export function encodeStanza(
  args: readonly string[],
  body: Uint8Array = new Uint8Array(),
): Uint8Array {
  const head = new TextEncoder().encode(`-> ${args.join(" ")}\n`);
  const b64 = toStd(base64UrlAscii(body));
  const lines = Math.floor(b64.length / COLS) + 1;
  const out = new Uint8Array(head.length + b64.length + lines);
  out.set(head);
  let o = head.length;
  for (let i = 0; i < lines; i++) {
    const part = b64.subarray(i * COLS, Math.min((i + 1) * COLS, b64.length));
    out.set(part, o);
    o += part.length;
    out[o++] = 0x0a;
  }
  b64.fill(0);
  return out;
}

/** Reads stanzas from a byte stream. */
export class StanzaReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(0);

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #line(): Promise<Uint8Array | undefined> {
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl > MAX_LINE) throw new StanzaError("line too long");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        const rest = this.#buf.slice(nl + 1);
        this.#buf.fill(0);
        this.#buf = rest;
        return line;
      }
      if (this.#buf.length > MAX_LINE) throw new StanzaError("line too long");
      const { value, done } = await this.#reader.read();
      if (done) {
        if (this.#buf.length > 0) throw new StanzaError("truncated line");
        return undefined;
      }
      const next = new Uint8Array(this.#buf.length + value.length);
      next.set(this.#buf);
      next.set(value, this.#buf.length);
      this.#buf.fill(0);
      value.fill(0);
      this.#buf = next;
    }
  }

  /** The next stanza, or `undefined` at a clean end of stream. */
  async next(): Promise<WireStanza | undefined> {
    const head = await this.#line();
    if (head === undefined) return undefined;
    const text = new TextDecoder().decode(head);
    if (!text.startsWith("-> ")) throw new StanzaError("expected a line starting with '-> '");
    const args = text.slice(3).split(" ");
    if (args.some((a) => a === "")) throw new StanzaError("empty argument");
    // Body lines may hold a file key or a PIN (base64): wiped on every path.
    const parts: Uint8Array[] = [];
    try {
      let size = 0;
      for (;;) {
        const line = await this.#line();
        if (line === undefined) throw new StanzaError("truncated body");
        parts.push(line);
        if (line.length > COLS) throw new StanzaError("body line too long");
        size += line.length;
        if (size > MAX_BODY) throw new StanzaError("body too large");
        if (line.length < COLS) break;
      }
      const joined = new Uint8Array(size);
      let o = 0;
      for (const p of parts) {
        joined.set(p, o);
        o += p.length;
      }
      const body = fromStd(joined);
      joined.fill(0);
      if (body === undefined) throw new StanzaError("body is not canonical base64");
      return { args, body };
    } finally {
      for (const p of parts) p.fill(0);
    }
  }

  /** Releases the stream and wipes buffered bytes. */
  release(): void {
    this.#buf.fill(0);
    try {
      this.#reader.releaseLock();
    } catch { /* already released */ }
  }
}
