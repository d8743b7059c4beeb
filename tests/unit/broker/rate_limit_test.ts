/**
 * Token buckets: burst then refill at `perSecond`, an overall bucket and a
 * class bucket both charged, nothing taken when refused, and a reload that
 * changes a spec keeps the tokens left (capped at the new burst).
 */

import assert from "node:assert/strict";
import { RateLimiter } from "../../../lib/broker/rate_limit.ts";
import type { RateLimits, SubjectLimits } from "../../../lib/policy/rate_limits.ts";

function limits(app: SubjectLimits | undefined, def?: SubjectLimits): RateLimits {
  return { default: def, subjects: new Map(app ? [["app", app]] : []) };
}

function takeN(l: RateLimiter, lim: RateLimits, op: string, n: number, at: number): boolean[] {
  return Array.from({ length: n }, () => l.take(lim, "app", op, at));
}

Deno.test("burst, then one token per 1/perSecond", () => {
  const l = new RateLimiter();
  const lim = limits({ all: { perSecond: 2, burst: 3 }, classes: new Map() });
  assert.deepEqual(takeN(l, lim, "get", 4, 0), [true, true, true, false]);
  assert.deepEqual(takeN(l, lim, "get", 2, 499), [false, false]);
  assert.deepEqual(takeN(l, lim, "get", 2, 500), [true, false]);
  // A long pause refills to burst, never beyond.
  assert.deepEqual(takeN(l, lim, "get", 4, 60_000), [true, true, true, false]);
});

Deno.test("unlimited subjects and ops pass; default applies to subjects without an entry", () => {
  const l = new RateLimiter();
  assert.equal(l.take(undefined, "app", "get", 0), true);
  const onlyMint = limits({
    all: undefined,
    classes: new Map([["mint", { perSecond: 1, burst: 1 }]]),
  });
  assert.deepEqual(takeN(l, onlyMint, "get", 5, 0), [true, true, true, true, true]);
  assert.deepEqual(takeN(l, onlyMint, "mint", 2, 0), [true, false]);
  const def = limits(undefined, { all: { perSecond: 1, burst: 1 }, classes: new Map() });
  assert.equal(l.take(def, "someone", "get", 0), true);
  assert.equal(l.take(def, "someone", "get", 0), false);
  assert.equal(l.take(def, "else", "get", 0), true, "each subject has its own bucket");
});

Deno.test("class and overall buckets are both charged; a refusal takes nothing", () => {
  const l = new RateLimiter();
  const lim = limits({
    all: { perSecond: 1, burst: 3 },
    classes: new Map([["write", { perSecond: 1, burst: 1 }]]),
  });
  assert.equal(l.take(lim, "app", "set", 0), true);
  assert.equal(l.take(lim, "app", "rotate", 0), false, "write bucket empty");
  // The refused write took nothing from the overall bucket: two reads remain.
  assert.deepEqual(takeN(l, lim, "get", 3, 0), [true, true, false]);
});

Deno.test("a changed spec keeps the tokens left, capped at the new burst", () => {
  const l = new RateLimiter();
  const a = limits({ all: { perSecond: 1, burst: 10 }, classes: new Map() });
  takeN(l, a, "get", 8, 0); // 2 left
  const b = limits({ all: { perSecond: 1, burst: 20 }, classes: new Map() });
  assert.deepEqual(takeN(l, b, "get", 3, 0), [true, true, false], "not refilled by the change");
  const c = limits({ all: { perSecond: 1, burst: 1 }, classes: new Map() });
  assert.deepEqual(takeN(l, c, "get", 2, 5_000), [true, false], "capped at the new burst");
  assert.equal(l.size, 1);
});
