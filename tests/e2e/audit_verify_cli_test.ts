/**
 * `basil audit verify FILE [--previous FILE]` on a real agent's audit log:
 * an intact file is `ok: N records` (exit 0); an edited or deleted line is
 * named as `line L: reason` (exit 1); a file rotated out (SIGHUP reopen)
 * verifies with --previous, and a wrong --previous is caught.
 */

import assert from "node:assert/strict";
import { basil } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";

Deno.test("audit verify: ok on the agent's log, the first bad line named after an edit", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    for (let i = 0; i < 3; i++) await f.cli(["get", "--key-id", "app.db_password"]);
    await f.cli(["get", "--key-id", "ops.root_token"]);
  } finally {
    await a.stop();
  }
  try {
    const lines = Deno.readTextFileSync(f.audit).split("\n").filter((l) => l !== "");
    const ok = await basil(["audit", "verify", f.audit]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `ok: ${lines.length} records\n`);

    const edited = `${f.dir}/edited.jsonl`;
    const copy = [...lines];
    copy[2] = copy[2]!.replace('"allow"', '"deny"').replace('"deny"', '"allow"') + " ";
    Deno.writeTextFileSync(edited, copy.join("\n") + "\n");
    const e = await basil(["audit", "verify", edited]);
    assert.equal(e.code, 1);
    assert.match(e.stdout, /^line 3: /);

    const cut = `${f.dir}/cut.jsonl`;
    Deno.writeTextFileSync(cut, [...lines.slice(0, 1), ...lines.slice(2)].join("\n") + "\n");
    const c = await basil(["audit", "verify", cut]);
    assert.equal(c.code, 1);
    assert.match(c.stdout, /^line 2: /);

    const missing = await basil(["audit", "verify", `${f.dir}/none.jsonl`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read: no such file/);
  } finally {
    f.cleanup();
  }
});

Deno.test("audit verify --previous: a rotated file links to the one before it", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  const old = `${f.dir}/audit.1.jsonl`;
  try {
    await f.cli(["get", "--key-id", "app.db_password"]);
    Deno.renameSync(f.audit, old);
    a.child.kill("SIGHUP");
    // The reopen writes the new file's chain start record.
    let n = 0;
    while (n++ < 200) {
      await f.cli(["get", "--key-id", "app.db_password"]);
      try {
        if (Deno.readTextFileSync(f.audit).includes("app.db_password")) break;
      } catch { /* not reopened yet */ }
    }
  } finally {
    await a.stop();
  }
  try {
    const r = await basil(["audit", "verify", f.audit, "--previous", old]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: \d+ records\n$/);
    const other = await Fixture.create();
    try {
      const oa = await other.start();
      await oa.stop();
      const w = await basil(["audit", "verify", f.audit, "--previous", other.audit]);
      assert.equal(w.code, 1);
      assert.match(w.stdout, /^line 1: /);
    } finally {
      other.cleanup();
    }
  } finally {
    f.cleanup();
  }
});
