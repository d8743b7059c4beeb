/**
 * The strict JSON reader behind the catalog and policy loaders
 * (lib/core/validate.ts parseJsonText): differential against JSON.parse on
 * random mutations of valid documents, plus duplicate-member detection.
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import { parseJsonText } from "../../../lib/core/validate.ts";

function ours(text: string): { ok: unknown } | { error: string } {
  try {
    return { ok: parseJsonText(text, "f.json", "t") };
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.token, "t");
    return { error: e.message };
  }
}

function native(text: string): { ok: unknown } | { error: true } {
  try {
    return { ok: JSON.parse(text) };
  } catch {
    return { error: true };
  }
}

const SEEDS = [
  '{"schemaVersion": 1, "backends": {"b": {"kind": "vault", "addr": "x"}}, "keys": {}}',
  '[1, -2.5e+3, 0, -0, 1E2, true, false, null, "s\\u00e9\\n\\"q\\\\", {}, []]',
  '{"a": {"b": [{"c": "\\ud83d\\ude00"}]}, "__proto__": {"x": 1}, "constructor": 2}',
  ' \t\r\n{ "k" : "v" , "n" : [ ] } \n',
  '"just a string"',
  "12345678901234567890",
];
const ALPHABET = '{}[]":,.-+eE0123456789 \\tnulrfasu"\n\u0001\u00e9';

Deno.test("parseJsonText agrees with JSON.parse on random mutations", () => {
  let state = 0x1234567;
  const rnd = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < 20000; i++) {
    let t = SEEDS[rnd(SEEDS.length)]!;
    for (let m = rnd(3); m >= 0; m--) {
      const at = rnd(t.length + 1);
      const op = rnd(3);
      const ch = ALPHABET[rnd(ALPHABET.length)]!;
      if (op === 0) t = t.slice(0, at) + ch + t.slice(at);
      else if (op === 1) t = t.slice(0, at) + t.slice(at + 1);
      else t = t.slice(0, at) + ch + t.slice(at + 1);
    }
    const a = ours(t);
    const b = native(t);
    if ("ok" in a) {
      assert.ok("ok" in b, `we accepted what JSON.parse rejects: ${JSON.stringify(t)}`);
      assert.deepEqual(a.ok, b.ok, JSON.stringify(t));
      accepted++;
    } else if (/duplicate key/.test(a.error)) {
      assert.ok("ok" in b, JSON.stringify(t));
    } else {
      assert.ok("error" in b, `we rejected valid JSON: ${JSON.stringify(t)}: ${a.error}`);
      assert.match(a.error, /^f\.json: \(top level\): malformed JSON at offset \d+ \(line \d+/);
      rejected++;
    }
  }
  assert.ok(accepted > 1000 && rejected > 1000, `${accepted} accepted, ${rejected} rejected`);
});

Deno.test("__proto__ stays an own data property, as with JSON.parse", () => {
  const v = parseJsonText('{"__proto__": {"polluted": true}}', "f", "t") as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.ok(Object.hasOwn(v, "__proto__"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("duplicate members are reported with their path, at any depth", () => {
  const cases: [string, string][] = [
    ['{"a": 1, "a": 2}', 'f: (top level): duplicate key "a"'],
    ['{"x": [{"k": 1}, {"k": 1, "k": 2}]}', 'f: x[1]: duplicate key "k"'],
    ['{"keys": {"app.x": {}, "app.x": {}}}', 'f: keys: duplicate key "app.x"'],
    ['{"a": {"b.c": {"d": 1, "d": 1}}}', 'f: a["b.c"]: duplicate key "d"'],
    // Escapes are decoded before comparing: "\u0061" is "a".
    ['{"a": 1, "\\u0061": 2}', 'f: (top level): duplicate key "a"'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseJsonText(text, "f", "t"), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.message, message);
      return true;
    });
  }
  parseJsonText('{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}', "f", "t");
});

Deno.test("deep nesting is a clean error, not a stack overflow", () => {
  const deep = "[".repeat(100000) + "]".repeat(100000);
  assert.throws(() => parseJsonText(deep, "f", "t"), /nesting too deep/);
  parseJsonText("[".repeat(200) + "]".repeat(200), "f", "t");
});
