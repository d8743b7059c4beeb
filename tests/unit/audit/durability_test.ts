/**
 * Group commit: under `always` a flush waits for a sync that started after
 * its line was written, concurrent flushes share one sync, and a failed sync
 * gives false to exactly the flushes it covered (counted as a failure).
 */

import assert from "node:assert/strict";
import { GroupSync } from "../../../lib/audit/durability.ts";

/** A sync whose calls are resolved or rejected by the test. */
function manualSync() {
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return {
    pending,
    sync: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
  };
}

/** Resolves once `cond()` holds, checking after each turn of the event loop (bounded). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond());
}

Deno.test("group sync: concurrent flushes share a sync; a later line waits for the next", async () => {
  const m = manualSync();
  const failures: unknown[] = [];
  const g = new GroupSync("always", m.sync, (e) => failures.push(e));
  g.wrote();
  g.wrote();
  const a = g.flush();
  const b = g.flush();
  await until(() => m.pending.length === 1);
  g.wrote(); // written after the first sync started
  const c = g.flush();
  m.pending[0]!.resolve();
  assert.deepEqual(await Promise.all([a, b]), [true, true]);
  await until(() => m.pending.length === 2);
  let cDone = false;
  void c.then(() => (cDone = true));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(cDone, false, "the third line is not covered by the first sync");
  m.pending[1]!.resolve();
  assert.equal(await c, true);
  assert.equal(await g.flush(), true, "nothing new: no sync");
  assert.equal(m.pending.length, 2);
  assert.equal(failures.length, 0);
});

Deno.test("group sync: a failed sync fails the flushes it covered and is reported", async () => {
  const m = manualSync();
  const failures: unknown[] = [];
  const g = new GroupSync("always", m.sync, (e) => failures.push(e));
  g.wrote();
  const a = g.flush();
  await until(() => m.pending.length === 1);
  m.pending[0]!.reject(new Error("EIO"));
  assert.equal(await a, false);
  assert.equal(failures.length, 1);
  // The next flush tries again.
  const b = g.flush();
  await until(() => m.pending.length === 2);
  m.pending[1]!.resolve();
  assert.equal(await b, true);
});

Deno.test("group sync: never and batch do not hold up a flush", async () => {
  for (const policy of ["never", "batch"] as const) {
    const m = manualSync();
    const g = new GroupSync(policy, m.sync, () => {});
    g.wrote();
    assert.equal(await g.flush(), true);
    assert.equal(m.pending.length, 0);
    g.stop();
  }
});
