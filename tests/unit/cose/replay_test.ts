import assert from "node:assert/strict";
import { ReplayCache } from "../../../lib/cose/replay.ts";

Deno.test("replay cache: a (sender, cti) pair is admitted once while live", () => {
  const c = new ReplayCache(2);
  const id = new Uint8Array([1, 2, 3]);
  assert.equal(c.admit("a", id, 100, 50), "fresh");
  assert.equal(c.admit("a", id, 100, 60), "replay");
  assert.equal(c.admit("b", id, 100, 60), "fresh");
  // Full of live entries: refused rather than evicting one.
  assert.equal(c.admit("c", id, 100, 60), "full");
  // Once entries expire they are pruned and the slot is reused.
  assert.equal(c.admit("c", id, 300, 101), "fresh");
  assert.equal(c.size, 1);
});
