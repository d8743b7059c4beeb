/**
 * A small strict JSON reader over bytes, used only for the sealed
 * payload so secret string values never become JavaScript strings.
 *
 * Invariants:
 * - {@linkcode parseJsonBytes} follows RFC 8259 exactly (no comments, no
 *   trailing commas, no lone surrogate escapes, UTF-8 only, nesting ≤ 64) and
 *   rejects duplicate object keys. String values come back as
 *   {@linkcode JsonText} holding UTF-8 bytes; object keys (never secret) are
 *   strings. Errors carry a byte offset and never any content.
 * - {@linkcode wipeJson} zeroes every string value of a parsed tree.
 * @module
 */

import { isValidUtf8 } from "./utf8_bytes.ts";

/** A JSON string value as UTF-8 bytes. */
export class JsonText {
  /** The decoded UTF-8 bytes (owned; wiped by {@linkcode wipeJson}). */
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/** A parsed JSON object: keys in document order. */
export class JsonObject {
  /** Members by key. */
  readonly fields: Map<string, JsonValue> = new Map();
}

/** A parsed JSON value. */
export type JsonValue = null | boolean | number | JsonText | JsonValue[] | JsonObject;

/** Malformed JSON; the message names a byte offset only. */
export class JsonSyntaxError extends Error {
  constructor(what: string, offset: number) {
    super(`${what} at byte ${offset}`);
    this.name = "JsonSyntaxError";
  }
}

const MAX_DEPTH = 64;
const keyDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Parses one JSON document from `input` (which is not modified). */
export function parseJsonBytes(input: Uint8Array): JsonValue {
  const p = new Parser(input);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i !== input.length) {
    wipeJson(v);
    throw new JsonSyntaxError("unexpected trailing data", p.i);
  }
  return v;
}

/** Zeroes every string value in a parsed tree. */
export function wipeJson(v: JsonValue): void {
  if (v instanceof JsonText) v.bytes.fill(0);
  else if (Array.isArray(v)) v.forEach(wipeJson);
  else if (v instanceof JsonObject) v.fields.forEach(wipeJson);
}

class Parser {
  i = 0;
  constructor(readonly b: Uint8Array) {}

  fail(what: string): never {
    throw new JsonSyntaxError(what, this.i);
  }

  ws(): void {
    while (this.i < this.b.length) {
      const c = this.b[this.i]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.i++;
    }
  }

  literal<T>(text: string, value: T): T {
    for (let k = 0; k < text.length; k++) {
      if (this.b[this.i + k] !== text.charCodeAt(k)) this.fail("invalid literal");
    }
    this.i += text.length;
    return value;
  }

  /** Consumes the byte at the cursor (a closing bracket) and returns `value`. */
  close<T>(value: T): T {
    this.i++;
    return value;
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail("nesting too deep");
    const c = this.b[this.i];
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) return new JsonText(this.string());
    if (c === 0x74) return this.literal("true", true);
    if (c === 0x66) return this.literal("false", false);
    if (c === 0x6e) return this.literal("null", null);
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.number();
    return this.fail(c === undefined ? "unexpected end of input" : "unexpected byte");
  }

  object(depth: number): JsonObject {
    const obj = new JsonObject();
    try {
      this.i++;
      this.ws();
      if (this.b[this.i] === 0x7d) return this.close(obj);
      for (;;) {
        if (this.b[this.i] !== 0x22) this.fail("expected object key");
        const at = this.i;
        const raw = this.string();
        const key = keyDecoder.decode(raw);
        if (obj.fields.has(key)) {
          this.i = at;
          this.fail("duplicate object key");
        }
        this.ws();
        if (this.b[this.i] !== 0x3a) this.fail("expected ':'");
        this.i++;
        this.ws();
        obj.fields.set(key, this.value(depth + 1));
        this.ws();
        const c = this.b[this.i];
        if (c === 0x7d) return this.close(obj);
        if (c !== 0x2c) this.fail("expected ',' or '}'");
        this.i++;
        this.ws();
      }
    } catch (e) {
      wipeJson(obj);
      throw e;
    }
  }

  array(depth: number): JsonValue[] {
    const arr: JsonValue[] = [];
    try {
      this.i++;
      this.ws();
      if (this.b[this.i] === 0x5d) return this.close(arr);
      for (;;) {
        arr.push(this.value(depth + 1));
        this.ws();
        const c = this.b[this.i];
        if (c === 0x5d) return this.close(arr);
        if (c !== 0x2c) this.fail("expected ',' or ']'");
        this.i++;
        this.ws();
      }
    } catch (e) {
      wipeJson(arr);
      throw e;
    }
  }

  number(): number {
    const start = this.i;
    const b = this.b;
    const digits = (): number => {
      const s = this.i;
      while (this.i < b.length && b[this.i]! >= 0x30 && b[this.i]! <= 0x39) this.i++;
      return this.i - s;
    };
    if (b[this.i] === 0x2d) this.i++;
    if (b[this.i] === 0x30) this.i++;
    else if (digits() === 0) this.fail("invalid number");
    if (b[this.i] === 0x2e) {
      this.i++;
      if (digits() === 0) this.fail("invalid number");
    }
    if (b[this.i] === 0x65 || b[this.i] === 0x45) {
      this.i++;
      if (b[this.i] === 0x2b || b[this.i] === 0x2d) this.i++;
      if (digits() === 0) this.fail("invalid number");
    }
    return Number(String.fromCharCode(...b.subarray(start, this.i)));
  }

  /** Decodes a string starting at the opening quote into fresh bytes. */
  string(): Uint8Array {
    const b = this.b;
    this.i++;
    let end = this.i;
    while (end < b.length && b[end] !== 0x22) end += b[end] === 0x5c ? 2 : 1;
    if (end >= b.length) this.fail("unterminated string");
    // Escapes only shrink, so the raw span bounds the decoded size.
    const buf = new Uint8Array(end - this.i);
    let n = 0;
    try {
      while (this.i < end) {
        const c = b[this.i]!;
        if (c < 0x20) this.fail("control character in string");
        if (c !== 0x5c) {
          buf[n++] = c;
          this.i++;
          continue;
        }
        const e = b[this.i + 1];
        this.i += 2;
        const simple = SIMPLE_ESCAPES[e ?? 0];
        if (simple !== undefined) buf[n++] = simple;
        else if (e === 0x75) n = this.unicodeEscape(buf, n);
        else {
          this.i -= 2;
          this.fail("invalid escape");
        }
      }
      this.i = end + 1;
      const out = buf.slice(0, n);
      if (!isValidUtf8(out)) {
        out.fill(0);
        this.fail("invalid UTF-8 in string");
      }
      return out;
    } finally {
      buf.fill(0);
    }
  }

  hex4(): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.b[this.i + k] ?? 0;
      const d = c >= 0x30 && c <= 0x39
        ? c - 0x30
        : c >= 0x61 && c <= 0x66
        ? c - 0x57
        : c >= 0x41 && c <= 0x46
        ? c - 0x37
        : -1;
      if (d < 0) this.fail("invalid \\u escape");
      v = (v << 4) | d;
    }
    this.i += 4;
    return v;
  }

  unicodeEscape(buf: Uint8Array, n: number): number {
    let cp = this.hex4();
    if (cp >= 0xdc00 && cp <= 0xdfff) this.fail("lone surrogate escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (this.b[this.i] !== 0x5c || this.b[this.i + 1] !== 0x75) {
        this.fail("lone surrogate escape");
      }
      this.i += 2;
      const lo = this.hex4();
      if (lo < 0xdc00 || lo > 0xdfff) this.fail("lone surrogate escape");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp < 0x80) buf[n++] = cp;
    else if (cp < 0x800) {
      buf[n++] = 0xc0 | (cp >> 6);
      buf[n++] = 0x80 | (cp & 63);
    } else if (cp < 0x10000) {
      buf[n++] = 0xe0 | (cp >> 12);
      buf[n++] = 0x80 | ((cp >> 6) & 63);
      buf[n++] = 0x80 | (cp & 63);
    } else {
      buf[n++] = 0xf0 | (cp >> 18);
      buf[n++] = 0x80 | ((cp >> 12) & 63);
      buf[n++] = 0x80 | ((cp >> 6) & 63);
      buf[n++] = 0x80 | (cp & 63);
    }
    return n;
  }
}

const SIMPLE_ESCAPES: Record<number, number> = {
  0x22: 0x22,
  0x5c: 0x5c,
  0x2f: 0x2f,
  0x62: 0x08,
  0x66: 0x0c,
  0x6e: 0x0a,
  0x72: 0x0d,
  0x74: 0x09,
};
