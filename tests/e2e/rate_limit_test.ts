/**
 * Per-subject rate limits (policy `rateLimits`) through a real agent: an
 * exhausted bucket answers RESOURCE_EXHAUSTED/RATE_LIMITED (seen by the
 * python3-grpcio client too), audited as `decision: allow, outcome:
 * rate_limited`; a denied key stays PERMISSION_DENIED (no oracle); another
 * op class has its own bucket; a reload that raises the burst does not
 * refill the bucket, and one that removes the limit lifts it.
 *
 * The refill rate is one token per ~11 days, so nothing refills during the
 * test and no assertion depends on time.
 */

import assert from "node:assert/strict";
import * as pb from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import { needs } from "../helpers/peers.ts";
import { pyCall, PYTHON } from "../helpers/python.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

const SLOW = 0.000001;

function policy(rateLimits: unknown) {
  return (uid: number) => ({
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    roles: { reader: ["get", "list"], writer: ["set"] },
    rules: [
      { id: "app", subjects: ["app"], action: ["role:reader", "role:writer"], target: ["app.*"] },
      { id: "admin", subjects: ["app"], action: ["op:reload"], target: ["broker.reload"] },
    ],
    ...(rateLimits === undefined ? {} : { rateLimits }),
  });
}

Deno.test({
  name: "rate limits: an exhausted bucket is RESOURCE_EXHAUSTED, audited rate_limited; reloadable",
  ...needs(PYTHON, "protoc"),
  async fn() {
    const limits = { subjects: { app: { classes: { read: { perSecond: SLOW, burst: 3 } } } } };
    const f = await Fixture.create({ policy: policy(limits) });
    const a = await f.start();
    try {
      const get = (key: string) =>
        rawCall(f.socket, pb.SecretService.method.getSecret, { secretId: key });
      const codes: string[] = [];
      for (let i = 0; i < 3; i++) codes.push((await get("app.db_password")).code);
      assert.deepEqual(codes, ["OK", "OK", "OK"]);
      const limited = await get("app.db_password");
      assert.deepEqual([limited.code, limited.reason, limited.op, limited.details], [
        "RESOURCE_EXHAUSTED",
        "RATE_LIMITED",
        "get",
        "rate limit exceeded",
      ]);
      const py = await pyCall(f.socket, "get", { key: "app.db_password" });
      assert.deepEqual([py.code, py.reason], ["RESOURCE_EXHAUSTED", "RATE_LIMITED"]);
      // Denied and unknown keys stay denied: the limit says nothing about keys.
      assert.equal((await get("ops.root_token")).code, "PERMISSION_DENIED");
      assert.equal((await get("no.such_key")).code, "PERMISSION_DENIED");
      // Writes are another class, not limited here.
      const set = await rawCall(f.socket, pb.SecretService.method.setSecret, {
        secretId: "app.api_token",
        value: new TextEncoder().encode("t0ken-value"),
      });
      assert.equal(set.code, "OK", set.details);

      const gets = f.auditRecords().filter((r) => r.op === "get");
      assert.deepEqual(
        gets.map((r) => [r.target_id, r.decision, r.outcome]),
        [
          ["app.db_password", "allow", "allow"],
          ["app.db_password", "allow", "allow"],
          ["app.db_password", "allow", "allow"],
          ["app.db_password", "allow", "rate_limited"],
          ["app.db_password", "allow", "rate_limited"],
          ["ops.root_token", "deny", "deny"],
          ["no.such_key", "deny", "deny"],
        ],
      );

      // A reload raising the burst keeps the (empty) bucket: no refill by reload.
      const raised = { subjects: { app: { classes: { read: { perSecond: SLOW, burst: 50 } } } } };
      Deno.writeTextFileSync(f.policy, JSON.stringify(policy(raised)(Deno.uid()!)));
      const r1 = await rawCall(f.socket, pb.AdminService.method.reload, {});
      assert.equal(r1.message?.applied, true, r1.message?.rejection?.message ?? r1.details);
      assert.equal((await get("app.db_password")).code, "RESOURCE_EXHAUSTED");

      // A bad section is a validation_failed reload naming the field.
      Deno.writeTextFileSync(
        f.policy,
        JSON.stringify(policy({ subjects: { app: { perSecond: 1 } } })(Deno.uid()!)),
      );
      const bad = await rawCall(f.socket, pb.AdminService.method.reload, {});
      assert.equal(bad.message?.rejection?.reason, "validation_failed");
      assert.match(
        bad.message?.rejection?.message ?? "",
        /rateLimits\.subjects\.app\.burst: "perSecond" and "burst" must be given together/,
      );

      // Removing the limit lifts it at once.
      Deno.writeTextFileSync(f.policy, JSON.stringify(policy(undefined)(Deno.uid()!)));
      const r2 = await rawCall(f.socket, pb.AdminService.method.reload, {});
      assert.equal(r2.message?.applied, true);
      assert.equal((await get("app.db_password")).code, "OK");
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
});

Deno.test("rate limits: the overall bucket covers every request of the subject, denials included", async () => {
  const limits = { default: { perSecond: SLOW, burst: 2 } };
  const f = await Fixture.create({ policy: policy(limits) });
  const a = await f.start();
  try {
    const get = (key: string) =>
      rawCall(f.socket, pb.SecretService.method.getSecret, { secretId: key });
    assert.equal((await get("ops.root_token")).code, "PERMISSION_DENIED"); // takes a token
    assert.equal((await get("app.db_password")).code, "OK");
    const third = await rawCall(f.socket, pb.SecretService.method.getSecret, {
      secretId: "app.readonly",
    });
    assert.equal(third.code, "RESOURCE_EXHAUSTED");
    // Health is ungated (no subject): never limited.
    assert.equal((await rawCall(f.socket, pb.AdminService.method.health, {})).code, "OK");
  } finally {
    await a.stop();
    f.cleanup();
  }
});
