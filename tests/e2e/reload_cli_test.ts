/**
 * `basil reload [--check] [--json]` against a live agent (the Reload RPC):
 * --check validates without applying, a policy change is applied with the
 * next generation (and readiness reports it), a routing-shape change is
 * rejected with exit 1 and changes nothing, and without an `op:reload`
 * grant the call is denied.
 */

import assert from "node:assert/strict";
import { appPolicy, Fixture } from "../helpers/fixture.ts";

function reloadPolicy(uid: number, extraTargets: string[] = []): unknown {
  const p = appPolicy(uid) as { rules: unknown[] };
  p.rules.push({
    id: "ops-reload",
    subjects: ["app"],
    action: ["op:reload"],
    target: ["broker.reload"],
  });
  if (extraTargets.length > 0) {
    p.rules.push({ id: "extra", subjects: ["app"], action: ["op:get"], target: extraTargets });
  }
  return p;
}

Deno.test("reload: --check, an applied policy change with its generation, a rejected shape change", async () => {
  const f = await Fixture.create({ policy: (uid: number) => reloadPolicy(uid) });
  const a = await f.start();
  try {
    const gen = async () => JSON.parse((await f.cli(["ready", "--json"])).stdout).generation;
    const g0 = await gen();

    const check = await f.cli(["reload", "--check", "--json"]);
    assert.equal(check.code, 0, check.stderr);
    const c = JSON.parse(check.stdout);
    assert.equal(c.checked, true);
    assert.equal(c.applied, false);
    assert.equal(c.rejection, null);
    assert.equal(await gen(), g0);

    // Grant ops.root_token to the app, then reload: the new grant works.
    assert.equal((await f.cli(["get", "--key-id", "ops.root_token"])).code, 1);
    Deno.writeTextFileSync(f.policy, JSON.stringify(reloadPolicy(Deno.uid()!, ["ops.root_token"])));
    const r = await f.cli(["reload", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j).sort(), [
      "applied",
      "checked",
      "grant_count",
      "key_count",
      "new_generation",
      "previous_generation",
      "rejection",
    ]);
    assert.equal(j.applied, true);
    assert.equal(j.previous_generation, g0);
    assert.equal(j.new_generation, g0 + 1);
    assert.equal(await gen(), g0 + 1);
    const got = await f.cli(["get", "--key-id", "ops.root_token"]);
    assert.equal(got.code, 0, got.stderr);

    // A changed key path is a routing-shape change: rejected, exit 1, nothing changes.
    const cat = JSON.parse(Deno.readTextFileSync(f.catalog));
    cat.keys["app.api_token"].path = "app/other";
    Deno.writeTextFileSync(f.catalog, JSON.stringify(cat));
    const bad = await f.cli(["reload"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^rejected: routing_shape_changed$/m);
    assert.equal(await gen(), g0 + 1);
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("reload: without an op:reload grant the call is denied", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const r = await f.cli(["reload"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: agent status \[PermissionDenied\/UNAUTHORIZED\]/);
  } finally {
    await a.stop();
    f.cleanup();
  }
});
