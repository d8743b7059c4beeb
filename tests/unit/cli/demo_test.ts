/**
 * `basil demo`: the workdir marker goes only into a directory the demo
 * created itself, and the agent counts as up only once it answers health
 * and readiness over its socket (retried, with a bound).
 */

import assert from "node:assert/strict";
import { MARKER, prepareDir } from "../../../lib/cli/demo/scaffold.ts";
import { waitForAgent } from "../../../lib/cli/demo/wait.ts";
import type { AgentProbe } from "../../../lib/cli/demo/wait.ts";
import { CliError } from "../../../lib/cli/io.ts";

/** The test's own uid, without --allow-sys: the owner of a directory it just made. */
let ME = -1;

async function inTemp(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = Deno.realPathSync(await Deno.makeTempDir({ prefix: "basil-demo-unit-" }));
  ME = Deno.statSync(dir).uid!;
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const isMarked = (d: string) => {
  try {
    return Deno.lstatSync(`${d}/${MARKER}`).isFile;
  } catch {
    return false;
  }
};

Deno.test("prepareDir creates a new 0700 workdir (and its parents) and marks it", async () => {
  await inTemp((t) => {
    const dir = `${t}/a/b/demo`;
    prepareDir(dir, ME);
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    assert.ok(isMarked(dir));
    assert.equal(Deno.statSync(`${dir}/${MARKER}`).mode! & 0o777, 0o600);
  });
});

Deno.test("an existing empty directory of the user's is refused and never marked", async () => {
  await inTemp((t) => {
    const dir = `${t}/mine`;
    Deno.mkdirSync(dir, { mode: 0o755 });
    assert.throws(() => prepareDir(dir, ME), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.match(e.message, /already exists and was not created by basil demo/);
      return true;
    });
    assert.ok(!isMarked(dir), "no marker written into the user's directory");
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o755, "mode untouched");
  });
});

Deno.test("a non-empty unmarked directory is refused and left alone", async () => {
  await inTemp((t) => {
    Deno.writeTextFileSync(`${t}/keep.txt`, "mine");
    assert.throws(() => prepareDir(t, ME), CliError);
    assert.equal(Deno.readTextFileSync(`${t}/keep.txt`), "mine");
    assert.ok(!isMarked(t));
  });
});

Deno.test("a workdir an earlier demo created is replaced on a rerun", async () => {
  await inTemp((t) => {
    const dir = `${t}/demo`;
    prepareDir(dir, ME);
    Deno.writeTextFileSync(`${dir}/stale.txt`, "old run");
    prepareDir(dir, ME);
    assert.ok(isMarked(dir));
    assert.throws(() => Deno.statSync(`${dir}/stale.txt`), Deno.errors.NotFound);
  });
});

Deno.test("a symlink, a file, or another uid's marked directory is refused", async () => {
  await inTemp((t) => {
    prepareDir(`${t}/demo`, ME);
    Deno.symlinkSync(`${t}/demo`, `${t}/link`);
    assert.throws(() => prepareDir(`${t}/link`, ME), /not a directory \(or is a symlink\)/);
    assert.ok(Deno.statSync(`${t}/demo/${MARKER}`).isFile, "the link target is untouched");
    Deno.writeTextFileSync(`${t}/file`, "x");
    assert.throws(() => prepareDir(`${t}/file`, ME), /not a directory/);
    assert.throws(() => prepareDir(`${t}/demo`, ME + 1), /owned by uid/);
    assert.ok(isMarked(`${t}/demo`));
  });
});

/** A fake clock: sleeping advances it. */
function clock() {
  let t = 0;
  return { now: () => t, sleep: (ms: number) => Promise.resolve(void (t += ms)) };
}

function probe(script: { health: (() => boolean)[]; ready: (() => boolean)[] }) {
  const calls = { health: 0, ready: 0 };
  const p: AgentProbe = {
    health() {
      const f = script.health[Math.min(calls.health++, script.health.length - 1)]!;
      return Promise.resolve().then(f);
    },
    readiness() {
      const f = script.ready[Math.min(calls.ready++, script.ready.length - 1)]!;
      return Promise.resolve().then(() => ({ ready: f(), reason: "required_key_missing" }));
    },
  };
  return { p, calls };
}

const down = () => {
  throw new Error("agent status [Unavailable]: cannot reach the agent");
};

Deno.test("waitForAgent retries health until it answers, then waits for readiness", async () => {
  const { p, calls } = probe({
    health: [down, down, () => true],
    ready: [() => false, () => true],
  });
  const r = await waitForAgent(p, {
    timeoutMs: 10_000,
    intervalMs: 100,
    exited: () => false,
    ...clock(),
  });
  assert.deepEqual(r, { ok: true, attempts: 4 });
  assert.equal(calls.health, 3, "health is not re-asked once alive");
  assert.equal(calls.ready, 2);
});

Deno.test("waitForAgent gives up at its bound with the last reason", async () => {
  const { p, calls } = probe({ health: [down], ready: [() => true] });
  const r = await waitForAgent(p, {
    timeoutMs: 1_000,
    intervalMs: 100,
    exited: () => false,
    ...clock(),
  });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && /no answer on the socket.*after 1000 ms/.test(r.why), JSON.stringify(r));
  assert.ok(calls.health >= 10 && calls.health <= 11, String(calls.health));
  assert.equal(calls.ready, 0);
  const nr = probe({ health: [() => true], ready: [() => false] });
  const r2 = await waitForAgent(nr.p, {
    timeoutMs: 500,
    intervalMs: 100,
    exited: () => false,
    ...clock(),
  });
  assert.ok(!r2.ok && /not ready \(required_key_missing\)/.test(r2.why), JSON.stringify(r2));
});

Deno.test("waitForAgent stops at once when the agent exits", async () => {
  let exited = false;
  const { p, calls } = probe({
    health: [() => {
      exited = true;
      return down();
    }],
    ready: [() => true],
  });
  const r = await waitForAgent(p, {
    timeoutMs: 60_000,
    intervalMs: 100,
    exited: () => exited,
    ...clock(),
  });
  assert.deepEqual(r, { ok: false, attempts: 1, why: "the agent exited" });
  assert.equal(calls.health, 1);
});
