/**
 * A JSON writer over bytes for the sealed payload, so secret string values
 * are written without becoming JavaScript strings (the reader is
 * `json_bytes.ts`).
 *
 * Invariants: {@linkcode JsonWriter.text} escapes the way `serde_json` and
 * `JSON.stringify` both do (`\"`, `\\`, `\b\f\n\r\t`, other controls as
 * lowercase `\u00xx`, everything else verbatim); {@linkcode JsonWriter.b64}
 * wipes its intermediate encoding; {@linkcode JsonWriter.finish} and
 * {@linkcode JsonWriter.discard} wipe every intermediate part, and
 * {@linkcode JsonWriter.build} discards a document whose writing throws.
 * @module
 */

import { base64UrlAscii } from "../core/encoding.ts";

const SHORT_OUT: Record<number, string> = {
  0x22: '\\"',
  0x5c: "\\\\",
  0x08: "\\b",
  0x0c: "\\f",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
};

const encoder = new TextEncoder();

/** Builds a JSON document from parts; secret parts are wiped on finish. */
export class JsonWriter {
  #parts: Uint8Array[] = [];

  /** Appends raw JSON text (structure, numbers, keys). Never secret. */
  raw(text: string): this {
    this.#parts.push(encoder.encode(text));
    return this;
  }

  /** Appends a non-secret string value, JSON-quoted. */
  str(value: string): this {
    return this.raw(JSON.stringify(value));
  }

  /** Appends `bytes` (valid UTF-8) as a JSON string without making a JS string. */
  text(bytes: Uint8Array): this {
    let extra = 2;
    for (const c of bytes) if (c < 0x20 || c === 0x22 || c === 0x5c) extra += 5;
    const out = new Uint8Array(bytes.length + extra);
    let o = 0;
    out[o++] = 0x22;
    for (const c of bytes) {
      const short = SHORT_OUT[c];
      if (short !== undefined) {
        for (let k = 0; k < short.length; k++) out[o++] = short.charCodeAt(k);
      } else if (c < 0x20) {
        const hex = c.toString(16).padStart(4, "0");
        out[o++] = 0x5c;
        out[o++] = 0x75;
        for (let k = 0; k < 4; k++) out[o++] = hex.charCodeAt(k);
      } else out[o++] = c;
    }
    out[o++] = 0x22;
    this.#parts.push(out.subarray(0, o));
    return this;
  }

  /**
   * Appends `bytes` as a base64url-no-pad JSON string without making a JS
   * string; the intermediate encoding (a copy of a secret) is wiped.
   */
  b64(bytes: Uint8Array): this {
    const ascii = base64UrlAscii(bytes);
    try {
      return this.text(ascii);
    } finally {
      ascii.fill(0);
    }
  }

  /**
   * Runs `write` on a fresh writer and returns the finished document (the
   * caller wipes it); if `write` throws, every part is wiped first.
   */
  static build(write: (w: JsonWriter) => void): Uint8Array {
    const w = new JsonWriter();
    try {
      write(w);
    } catch (e) {
      w.discard();
      throw e;
    }
    return w.finish();
  }

  /** Wipes and drops every part (for an aborted document). */
  discard(): void {
    for (const p of this.#parts) p.fill(0);
    this.#parts = [];
  }

  /** Concatenates the parts into one buffer and wipes the parts. */
  finish(): Uint8Array {
    let len = 0;
    for (const p of this.#parts) len += p.length;
    const out = new Uint8Array(len);
    let o = 0;
    for (const p of this.#parts) {
      out.set(p, o);
      o += p.length;
      p.fill(0);
    }
    this.#parts = [];
    return out;
  }
}
