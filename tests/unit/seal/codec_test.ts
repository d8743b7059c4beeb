/**
 * Byte-level codecs: UTF-8 validation/trim, byte JSON (base64url is tested in
 * tests/unit/core/encoding_test.ts).
 * @module
 */

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/core/encoding.ts";
import {
  JsonObject,
  JsonSyntaxError,
  JsonText,
  type JsonValue,
  parseJsonBytes,
  wipeJson,
} from "../../../lib/seal/json_bytes.ts";
import { JsonWriter } from "../../../lib/seal/json_writer.ts";
import { isValidUtf8, trimUnicodeWhitespace } from "../../../lib/seal/utf8_bytes.ts";

Deno.test("utf8: validation agrees with a fatal TextDecoder on edge cases and random bytes", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  const ok = (b: Uint8Array): boolean => {
    try {
      fatal.decode(b);
      return true;
    } catch {
      return false;
    }
  };
  const cases = [
    [0xc0, 0x80],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf0, 0x9f, 0x98, 0x80],
    [0xe2, 0x82],
    [0x7f],
    [0xc2, 0xa0],
  ].map((a) => new Uint8Array(a));
  for (const c of cases) assert.equal(isValidUtf8(c), ok(c), String(c));
  for (let i = 0; i < 3000; i++) {
    const b = crypto.getRandomValues(new Uint8Array(1 + (i % 7)));
    assert.equal(isValidUtf8(b), ok(b), String(b));
  }
});

Deno.test("utf8: trims Unicode White_Space at both ends only", () => {
  const trim = (s: string): string => {
    const b = utf8(s);
    const [a, z] = trimUnicodeWhitespace(b);
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(b.subarray(a, z));
  };
  assert.equal(trim(" \t\n tok en\r\n "), "tok en");
  assert.equal(trim("\u00a0\u3000x\u2028\u0085"), "x");
  assert.equal(trim("   "), "");
  assert.equal(trim("é"), "é");
  assert.equal(trim("\ufeffx"), "\ufeffx"); // BOM is not White_Space (as Rust)
});

function toPlain(v: JsonValue): unknown {
  if (v instanceof JsonText) return new TextDecoder().decode(v.bytes);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof JsonObject) {
    return Object.fromEntries([...v.fields].map(([k, x]) => [k, toPlain(x)]));
  }
  return v;
}

Deno.test("json bytes: parses like JSON.parse", () => {
  const docs = [
    '{"a":1,"b":[true,false,null],"c":{"d":"e\\n\\u00e9\\ud83d\\ude00\\"\\\\\\/"}}',
    ' [ -0.5e+3 , 0, 12, "" ] ',
    '"\u00e9\u4e2d"',
    "{}",
  ];
  for (const d of docs) assert.deepEqual(toPlain(parseJsonBytes(utf8(d))), JSON.parse(d), d);
});

Deno.test("json bytes: rejects malformed input with an offset, never content", () => {
  const bad = [
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a":1,"a":2}',
    '"\\ud800"',
    '"\\udc00x"',
    '"a\nb"',
    "01",
    "[1]x",
    '"\\q"',
    "nul",
    '{"k":"SECRET-VALUE',
  ];
  for (const d of bad) {
    assert.throws(() => parseJsonBytes(utf8(d)), (e: unknown) => {
      assert.ok(e instanceof JsonSyntaxError, d);
      assert.match(e.message, /at byte \d+$/);
      assert.ok(!e.message.includes("SECRET"));
      return true;
    });
  }
  assert.throws(() => parseJsonBytes(new Uint8Array([0x22, 0xff, 0x22])), JsonSyntaxError);
  assert.throws(() => parseJsonBytes(utf8("[".repeat(100) + "]".repeat(100))), JsonSyntaxError);
});

Deno.test("json bytes: the writer escapes exactly like JSON.stringify and wipes its parts", () => {
  let all = "";
  for (let c = 0; c < 0x80; c++) all += String.fromCharCode(c);
  for (const s of [all, "é中😀", "", 'q"b\\s/']) {
    const w = new JsonWriter();
    const out = w.text(utf8(s)).finish();
    assert.equal(new TextDecoder().decode(out), JSON.stringify(s));
    assert.equal(toPlain(parseJsonBytes(out)), s);
  }
  const w = new JsonWriter().raw("{").str("k").raw(":").str("v").raw("}");
  assert.equal(new TextDecoder().decode(w.finish()), '{"k":"v"}');
});

Deno.test("json bytes: JsonWriter.build finishes the document, or wipes every part if writing throws", () => {
  assert.equal(
    new TextDecoder().decode(JsonWriter.build((w) => w.raw("{").str("k").raw(":1}"))),
    '{"k":1}',
  );
  let inner: JsonWriter | undefined;
  assert.throws(
    () =>
      JsonWriter.build((w) => {
        inner = w;
        w.raw("{").raw('"s":').b64(utf8("CANARY-secret"));
        throw new RangeError("boom");
      }),
    RangeError,
  );
  // Every part was discarded: nothing of the aborted document is left to finish.
  assert.equal(inner!.finish().length, 0);
});

Deno.test("json bytes: wipeJson zeroes every string value", () => {
  const tree = parseJsonBytes(utf8('{"a":["xyz",{"b":"secret"}]}'));
  const texts: JsonText[] = [];
  const walk = (v: JsonValue): void => {
    if (v instanceof JsonText) texts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v instanceof JsonObject) v.fields.forEach(walk);
  };
  walk(tree);
  wipeJson(tree);
  assert.equal(texts.length, 2);
  for (const t of texts) assert.ok(t.bytes.every((b) => b === 0));
});
