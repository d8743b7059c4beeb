/**
 * Rule target globs (contract §3.3).
 */

import assert from "node:assert/strict";
import { compileGlob } from "../../../lib/policy/glob.ts";
import type { TargetGlob } from "../../../lib/policy/glob.ts";

function glob(term: string): TargetGlob {
  const g = compileGlob(term);
  if (typeof g === "string") throw new Error(`${term}: ${g}`);
  return g;
}

const KEYS = ["a", "a.b", "a.b.c", "a.b.c.d", "ab", "ab.c", "b.a", "A.b", "x.a.b", "a_b.c"];

const MATCHES: [string, string[]][] = [
  ["a.*", ["a.b"]],
  ["a.**", ["a.b", "a.b.c", "a.b.c.d"]],
  ["a.b.*", ["a.b.c"]],
  ["a.b.**", ["a.b.c", "a.b.c.d"]],
  ["*", KEYS],
  ["**", KEYS],
  ["a", ["a"]],
  ["a.b", ["a.b"]],
  ["A.b", ["A.b"]],
  ["ab", ["ab"]],
  ["a_b.*", ["a_b.c"]],
];

for (const [term, expected] of MATCHES) {
  Deno.test(`glob ${term} matches exactly ${expected.length} of the sample keys`, () => {
    const g = glob(term);
    assert.equal(g.source, term);
    assert.deepEqual(KEYS.filter((k) => g.matches(k)), expected);
  });
}

Deno.test("match-all is exactly `*` and bare `**`", () => {
  for (const t of ["*", "**"]) assert.equal(glob(t).matchesAll, true, t);
  for (const t of ["a.*", "a.**", "a", "a.b.**"]) assert.equal(glob(t).matchesAll, false, t);
});

Deno.test("wildcards never match zero segments or empty segments", () => {
  const one = glob("a.*");
  const many = glob("a.**");
  for (const k of ["a", "a.", "a..b", "a.b.", ""]) {
    assert.equal(one.matches(k), false, `a.* vs ${JSON.stringify(k)}`);
    assert.equal(many.matches(k), false, `a.** vs ${JSON.stringify(k)}`);
  }
  // A literal prefix must end on a segment boundary.
  assert.equal(one.matches("ab.c"), false);
  assert.equal(many.matches("ab.c"), false);
});

Deno.test("literals are exact and case-sensitive", () => {
  const g = glob("app.db_password");
  assert.equal(g.matches("app.db_password"), true);
  assert.equal(g.matches("App.db_password"), false);
  assert.equal(g.matches("app.db_password.x"), false);
  assert.equal(g.matches("app.db"), false);
});

const ERRORS: [string, RegExp][] = [
  ["", /empty/],
  ["web*", /whole segment/],
  ["a.web*", /whole segment/],
  ["a.*b", /whole segment/],
  ["a.***", /whole segment/],
  ["a.*.b", /final segment/],
  ["**.a", /final segment/],
  ["*.*", /final segment/],
  ["a.**.b", /final segment/],
  ["a..b", /empty segment/],
  [".a", /empty segment/],
  ["a.", /empty segment/],
  [".", /empty segment/],
  ["a.*.", /empty segment/],
];

for (const [term, reason] of ERRORS) {
  Deno.test(`glob ${JSON.stringify(term)} is a load error`, () => {
    const g = compileGlob(term);
    assert.equal(typeof g, "string");
    assert.match(g as string, reason);
  });
}
