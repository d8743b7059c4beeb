/**
 * Identity comes only from the kernel. Two real uids (the test runner, root
 * in CI, and a user the test creates) call the real CLI and an independent
 * Python gRPC client on the same keys: each is allowed exactly what policy
 * grants its uid. Forged metadata and environment change nothing.
 * Creating the user needs root: not root, these tests report themselves
 * ignored with that reason, and fail in CI (which runs as root).
 */

import assert from "node:assert/strict";
import { Fixture } from "../helpers/fixture.ts";
import { gated, ROOT } from "../helpers/peers.ts";
import { pyCall, PYTHON } from "../helpers/python.ts";
import { peerUser } from "../helpers/users.ts";

const FORGED: Record<string, string> = {
  "x-uid": "0",
  "x-basil-uid": "0",
  "x-basil-subject": "app",
  "authorization": "Bearer root",
  "uid": "0",
  "subject": "app",
};

function policy(rootUid: number, peerUid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: {
      app: { anyOf: [{ kind: "unix", uid: rootUid }] },
      peer: { anyOf: [{ kind: "unix", uid: peerUid }] },
    },
    roles: { reader: ["get", "list"] },
    rules: [
      { id: "app-reads-app", subjects: ["app"], action: ["role:reader"], target: ["app.*"] },
      { id: "peer-reads-ops", subjects: ["peer"], action: ["role:reader"], target: ["ops.*"] },
    ],
  };
}

Deno.test(gated([ROOT, "setpriv", "useradd", PYTHON], {
  name: "two real uids: each allowed only its own grants, on the same keys",
  async fn() {
    const peer = await peerUser();
    const me = Deno.uid()!;
    const f = await Fixture.create({ socketMode: "0666", policy: () => policy(me, peer.uid) });
    const a = await f.start();
    try {
      // The real CLI, as each uid.
      const rootGet = await f.cli(["get", "--key-id", "app.db_password", "--format", "hex"]);
      assert.equal(rootGet.code, 0, rootGet.stderr);
      const peerGet = await f.cli(["get", "--key-id", "app.db_password"], { as: peer });
      assert.equal(peerGet.code, 1);
      assert.equal(
        peerGet.stderr.trim(),
        "Error: agent status [PermissionDenied/UNAUTHORIZED]: not authorized",
      );
      const peerOwn = await f.cli(["get", "--key-id", "ops.root_token", "--format", "hex"], {
        as: peer,
      });
      assert.equal(peerOwn.code, 0, peerOwn.stderr);
      const rootOther = await f.cli(["get", "--key-id", "ops.root_token"]);
      assert.equal(rootOther.code, 1);

      // Environment cannot change who the CLI is.
      const envForged = await f.cli(["get", "--key-id", "app.db_password"], {
        as: peer,
        env: { BASIL_UID: "0", USER: "root", LOGNAME: "root", SUDO_UID: "0" },
      });
      assert.equal(envForged.code, 1);

      // An independent client with forged identity metadata, as the peer uid.
      const forged = await pyCall(f.socket, "get", {
        key: "app.db_password",
        meta: FORGED,
        as: peer,
      });
      assert.equal(forged.code, "PERMISSION_DENIED");
      assert.equal(forged.reason, "UNAUTHORIZED");
      assert.equal(forged.details, "not authorized");
      // The same client as root is allowed: the call itself is well formed.
      const good = await pyCall(f.socket, "get", { key: "app.db_password", meta: FORGED });
      assert.equal(good.code, "OK");
      assert.equal(good.value_len, 24);
      // What each uid may list follows the same grants.
      const peerList = await pyCall(f.socket, "list", { as: peer, meta: FORGED });
      assert.deepEqual(peerList.names, ["ops.root_token"]);

      // The audit log attributes each decision to the kernel uid.
      const recs = f.auditRecords().filter((r) => r.target_id === "app.db_password");
      const byUid = (uid: number) =>
        recs.filter((r) => (r.authenticated_by as string[])[0] === `unix_peercred:${uid}`);
      assert.ok(byUid(me).every((r) => r.decision === "allow" && r.actor_id === "app"));
      assert.ok(byUid(peer.uid).every((r) => r.decision === "deny" && r.actor_id === "peer"));
      assert.ok(byUid(peer.uid).length >= 3);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
}));

Deno.test(gated([ROOT, "setpriv", "useradd"], {
  name: "a uid that maps to no subject is denied everything, and sees an empty list",
  async fn() {
    const peer = await peerUser();
    const f = await Fixture.create({ socketMode: "0666" }); // grants only the test uid
    const a = await f.start();
    try {
      const r = await f.cli(["get", "--key-id", "app.db_password"], { as: peer });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /PermissionDenied\/UNAUTHORIZED/);
      const l = await f.cli(["list"], { as: peer });
      assert.equal(l.code, 0);
      assert.equal(l.stdout, "");
      const s = await f.cli(["status"], { as: peer });
      assert.equal(s.code, 1);
      const h = await f.cli(["health"], { as: peer });
      assert.equal(h.code, 0, "health is ungated");
      const rec = f.auditRecords().find((x) => x.op === "get" && x.decision === "deny");
      assert.equal(rec?.reason, `no_actor_subject:${peer.uid}`);
      assert.equal(rec?.actor_id, "unresolved");
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
}));
