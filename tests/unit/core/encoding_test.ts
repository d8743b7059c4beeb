/**
 * The one base64url codec (lib/core/encoding.ts): Node's encoder is the
 * independent oracle for the encoding; decoding is canonical (exactly one
 * accepted text per byte string) in both its string and ASCII-byte forms.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  base64Ascii,
  base64UrlAscii,
  decodeBase64,
  decodeBase64Url,
  fromBase64,
  fromBase64Url,
  toBase64,
  toBase64Url,
} from "../../../lib/core/encoding.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("base64url: encodes as Node does and round-trips every length 0..80, string and bytes", () => {
  for (let n = 0; n <= 80; n++) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    const text = toBase64Url(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64url"));
    assert.deepEqual(base64UrlAscii(bytes), ascii(text));
    assert.deepEqual(fromBase64Url(text), bytes);
    assert.deepEqual(decodeBase64Url(text), bytes);
    assert.deepEqual(decodeBase64Url(ascii(text)), bytes);
  }
});

Deno.test("base64url: rejects padding, foreign characters, 4n+1 lengths and non-zero trailing bits", () => {
  const bad = ["QQ==", "QQ=", "a+b/", "ab c", "A", "AAAAA", "QR", "QUJ", "é", "\u0000", "Q\u0151"];
  for (const text of bad) {
    assert.equal(decodeBase64Url(text), undefined, text);
    assert.throws(() => fromBase64Url(text), SyntaxError, text);
  }
  for (const text of ["QQ==", "a+b/", "QR", "QUJ"]) {
    assert.equal(decodeBase64Url(ascii(text)), undefined, text);
  }
  assert.equal(decodeBase64Url(new Uint8Array([0x51, 0xd1])), undefined, "a non-ASCII byte");
  // Node accepts every one of these; the point of one strict decoder.
  assert.equal(Buffer.from("QR", "base64url")[0], 0x41);
  assert.deepEqual(decodeBase64Url("QQ"), new Uint8Array([0x41]));
  assert.deepEqual(decodeBase64Url("QUI"), new Uint8Array([0x41, 0x42]));
  assert.deepEqual(decodeBase64Url(""), new Uint8Array(0));
});

Deno.test("base64url: every single-character change of an encoding decodes differently or not at all", () => {
  for (const n of [31, 32, 33, 64]) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    const text = toBase64Url(bytes);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.";
    for (let i = 0; i < text.length; i++) {
      for (const c of alphabet) {
        if (c === text[i]) continue;
        const out = decodeBase64Url(text.slice(0, i) + c + text.slice(i + 1));
        if (out !== undefined) assert.notDeepEqual(out, bytes);
      }
    }
  }
});

Deno.test("base64url: decoding bytes leaves the input untouched", () => {
  const input = ascii(toBase64Url(new Uint8Array([1, 2, 3, 4, 5])));
  const copy = input.slice();
  decodeBase64Url(input);
  assert.deepEqual(input, copy);
});

Deno.test("standard base64: padded and canonical, one decoder for strings and ASCII bytes", () => {
  for (let n = 0; n < 40; n++) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    const text = toBase64(bytes);
    assert.equal(text, btoa(String.fromCharCode(...bytes)), `same as btoa for ${n} bytes`);
    assert.deepEqual(fromBase64(text), bytes);
    assert.deepEqual(decodeBase64(base64Ascii(bytes)), bytes);
  }
  for (
    const bad of ["QQ", "QQ=", "QR==", "QUI", "QUJ=", "Q===", "QQ==QQ==", "QQ-_", "QUJD\n", "=QQ="]
  ) {
    assert.equal(decodeBase64(bad), undefined, bad);
    assert.throws(() => fromBase64(bad), SyntaxError, bad);
  }
});
