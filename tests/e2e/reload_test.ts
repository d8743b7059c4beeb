/**
 * Hot reload through a real agent (contract §8): a policy change applied by
 * SIGHUP and by the Reload RPC (python3-grpcio and grpc-js clients), check
 * mode, readiness reporting the generation, one reload audit line per
 * attempt, each rejection reason leaving the serving generation as it was,
 * the RPC's denial, and a policy flipping under hundreds of calls in flight
 * where every request is seen to use exactly one generation and none fails.
 *
 * Policy version N is written so that a response names the generation it
 * used: the rule granting `get` on the steady key is `steady-vN`, and the
 * flip key is granted (rule `flip-vN`) only in odd versions. The agent
 * starts on version 1 and every applied reload installs the next version, so
 * version N is generation N.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as pb from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import type { RunningAgent } from "../helpers/fixture.ts";
import { needs } from "../helpers/peers.ts";
import { PYTHON, pythonStubs } from "../helpers/python.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

const STEADY = "app.db_password";
const FLIP = "app.readonly";

function policyV(n: number, o: { admin?: boolean } = {}) {
  return (uid: number) => ({
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      ...(o.admin === false ? [] : [{
        id: "admin",
        subjects: ["app"],
        action: ["op:reload", "op:explain"],
        target: ["broker.reload", "broker.explain"],
      }]),
      { id: `steady-v${n}`, subjects: ["app"], action: ["op:get"], target: [STEADY] },
      ...(n % 2 === 1
        ? [{ id: `flip-v${n}`, subjects: ["app"], action: ["op:get"], target: [FLIP] }]
        : []),
    ],
  });
}

function writePolicy(f: Fixture, n: number, o: { admin?: boolean } = {}): void {
  Deno.writeTextFileSync(f.policy, JSON.stringify(policyV(n, o)(Deno.uid()!)));
}

async function generation(f: Fixture): Promise<bigint> {
  const r = await rawCall(f.socket, pb.AdminService.method.readiness, {});
  assert.equal(r.code, "OK", r.details);
  return r.message!.generation;
}

function reloadRpc(f: Fixture, check = false) {
  return rawCall(f.socket, pb.AdminService.method.reload, { check });
}

function reloadLines(f: Fixture): Record<string, unknown>[] {
  return f.auditRecords().filter((r) =>
    (r.event as { kind?: string } | undefined)?.kind === "basil.audit.reload"
  );
}

/** Sends SIGHUP and waits for the agent to log the reload's result (the `count`th). */
async function sighup(a: RunningAgent, count: number): Promise<void> {
  Deno.kill(a.agentPid, "SIGHUP");
  const done = /"reload (applied|rejected)"/g;
  await a.waitForStderr((s) => (s.match(done) ?? []).length >= count, `reload #${count}`);
}

const PY_RELOAD = `
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc
from basil.broker.v1 import broker_pb2
ch = grpc.insecure_channel("unix://" + sys.argv[2])
call = ch.unary_unary("/basil.broker.v1.AdminService/Reload",
    request_serializer=broker_pb2.ReloadRequest.SerializeToString,
    response_deserializer=broker_pb2.ReloadResponse.FromString)
r = call(broker_pb2.ReloadRequest(check=sys.argv[3] == "check"), timeout=30)
print(json.dumps({"applied": r.applied, "checked": r.checked,
    "previous": r.previous_generation, "new": r.new_generation,
    "keys": r.key_count, "grants": r.grant_count,
    "reason": r.rejection.reason if r.HasField("rejection") else None}))
`;

async function pyReload(f: Fixture, mode: "apply" | "check"): Promise<Record<string, unknown>> {
  const stubs = await pythonStubs();
  const script = `${f.dir}/reload.py`;
  Deno.writeTextFileSync(script, PY_RELOAD);
  const out = await new Deno.Command(PYTHON, {
    args: [script, stubs, f.socket, mode],
    env: { HOME: "/nonexistent" },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

Deno.test({
  name: "reload: SIGHUP and the Reload RPC apply a policy change; readiness and audit follow",
  ...needs(PYTHON, "protoc"),
  async fn() {
    const f = await Fixture.create({ policy: policyV(1) });
    const a = await f.start();
    try {
      const get = (key: string) =>
        rawCall(f.socket, pb.SecretService.method.getSecret, { secretId: key });
      assert.equal((await get(FLIP)).code, "OK");
      assert.equal(await generation(f), 1n);

      writePolicy(f, 2);
      await sighup(a, 1);
      assert.match(a.stderr, /SIGHUP: audit log reopened/, "SIGHUP still reopens the audit log");
      assert.equal(await generation(f), 2n);
      assert.equal((await get(FLIP)).code, "PERMISSION_DENIED");
      assert.equal((await get(STEADY)).code, "OK");

      writePolicy(f, 3);
      const checked = await pyReload(f, "check");
      assert.deepEqual(checked, {
        applied: false,
        checked: true,
        previous: 2,
        new: 2,
        keys: 4,
        grants: 6,
        reason: null,
      });
      assert.equal(await generation(f), 2n, "check applies nothing");
      assert.equal((await get(FLIP)).code, "PERMISSION_DENIED");

      const applied = await pyReload(f, "apply");
      assert.deepEqual(applied, {
        applied: true,
        checked: false,
        previous: 2,
        new: 3,
        keys: 4,
        grants: 6,
        reason: null,
      });
      assert.equal(await generation(f), 3n);
      assert.equal((await get(FLIP)).code, "OK");

      const uid = String(Deno.uid());
      assert.deepEqual(
        reloadLines(f).map((
          r,
        ) => [r.actor, r.previous_generation, r.generation, r.outcome, r.reason]),
        [
          [{ kind: "signal", id: "SIGHUP" }, 1, 2, "applied", "ok"],
          [{ kind: "unix_uid", id: uid }, 2, 2, "checked", "ok"],
          [{ kind: "unix_uid", id: uid }, 2, 3, "applied", "ok"],
        ],
      );
      // The RPCs are also authorized decisions on broker.reload.
      const authz = f.auditRecords().filter((r) => r.op === "reload");
      assert.deepEqual(authz.map((r) => [r.target_id, r.decision, r.outcome, r.generation]), [
        ["broker.reload", "allow", "allow", 2],
        ["broker.reload", "allow", "allow", 2],
      ]);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
});

Deno.test("reload: every rejection reason changes nothing; a caller without op:reload is denied", async () => {
  const f = await Fixture.create({ policy: policyV(1) });
  const a = await f.start();
  try {
    const catalogText = Deno.readTextFileSync(f.catalog);
    const policyText = Deno.readTextFileSync(f.policy);
    const unchanged = async (what: string) => {
      assert.equal(await generation(f), 1n, `${what}: generation`);
      const r = await rawCall(f.socket, pb.SecretService.method.getSecret, { secretId: FLIP });
      assert.equal(r.code, "OK", `${what}: the version 1 policy still serves`);
    };
    const expectRejected = async (reason: string, message: RegExp) => {
      const r = await reloadRpc(f);
      assert.equal(r.code, "OK", `a rejection is an answer, not an error: ${r.details}`);
      assert.equal(r.message!.applied, false);
      assert.equal(r.message!.rejection?.reason, reason, r.message!.rejection?.message ?? "");
      assert.match(r.message!.rejection!.message, message);
      assert.equal(r.message!.newGeneration, 1n);
      await unchanged(reason);
      Deno.writeTextFileSync(f.catalog, catalogText);
      Deno.writeTextFileSync(f.policy, policyText);
    };

    // A half-written policy file.
    Deno.writeTextFileSync(f.policy, policyText.slice(0, policyText.length / 2));
    await expectRejected("validation_failed", /policy\.json: .*line \d+/);
    writePolicy(f, 2);
    Deno.writeTextFileSync(
      f.policy,
      Deno.readTextFileSync(f.policy).replace('"op:get"', '"op:invoke"'),
    );
    await expectRejected("validation_failed", /rules\[1\]\.action\[0\]: unknown op "invoke"/);
    writePolicy(f, 2);
    Deno.writeTextFileSync(f.catalog, catalogText.replace('"app/readonly"', '"app/moved"'));
    await expectRejected("routing_shape_changed", /key "app\.readonly": path changed/);
    writePolicy(f, 2);
    Deno.removeSync(f.catalog);
    await expectRejected(
      "catalog_read_failed",
      /catalog .*catalog\.json: cannot read: no such file/,
    );
    Deno.removeSync(f.policy);
    await expectRejected("policy_read_failed", /policy .*policy\.json: cannot read: no such file/);

    // The policy is replaced while the catalog is being read: the catalog is
    // a FIFO, so the agent's read waits until this test writes it, after it
    // has renamed a new policy over the old one.
    Deno.removeSync(f.catalog);
    new Deno.Command("mkfifo", { args: [f.catalog] }).outputSync();
    const pending = reloadRpc(f);
    const fifo = await Deno.open(f.catalog, { write: true }); // returns once the agent reads
    writePolicy(f, 2);
    Deno.writeTextFileSync(`${f.dir}/next.json`, Deno.readTextFileSync(f.policy));
    Deno.renameSync(`${f.dir}/next.json`, f.policy);
    await fifo.write(new TextEncoder().encode(catalogText));
    fifo.close();
    const r = await pending;
    assert.equal(r.message?.rejection?.reason, "inputs_changed_during_read", r.details);
    await unchanged("inputs_changed_during_read");
    Deno.removeSync(f.catalog);
    Deno.writeTextFileSync(f.catalog, catalogText);
    Deno.writeTextFileSync(f.policy, policyText);
    // (`no_reload_inputs` cannot happen here: every agent has both paths; see the unit tests.)

    // SIGHUP rejections are audited and logged the same way.
    Deno.writeTextFileSync(f.policy, "{");
    await sighup(a, 7);
    assert.match(a.stderr, /"reload rejected".*"reason":"validation_failed"/);
    Deno.writeTextFileSync(f.policy, policyText);
    await unchanged("SIGHUP validation_failed");

    assert.deepEqual(
      reloadLines(f).map((x) => [x.outcome, x.reason, x.previous_generation, x.generation]),
      [
        ["rejected", "validation_failed", 1, 1],
        ["rejected", "validation_failed", 1, 1],
        ["rejected", "routing_shape_changed", 1, 1],
        ["rejected", "catalog_read_failed", 1, 1],
        ["rejected", "policy_read_failed", 1, 1],
        ["rejected", "inputs_changed_during_read", 1, 1],
        ["rejected", "validation_failed", 1, 1],
      ],
    );

    // A policy without op:reload: the RPC is PERMISSION_DENIED and reloads nothing.
    writePolicy(f, 2, { admin: false });
    await sighup(a, 8);
    assert.equal(await generation(f), 2n);
    writePolicy(f, 3);
    const denied = await reloadRpc(f);
    assert.equal(denied.code, "PERMISSION_DENIED");
    assert.equal(denied.reason, "UNAUTHORIZED");
    assert.equal(await generation(f), 2n);
    assert.equal(reloadLines(f).length, 8, "a denied RPC is an authz record, not a reload");
    const last = f.auditRecords().at(-1)!;
    assert.deepEqual([last.op, last.target_id, last.decision], ["reload", "broker.reload", "deny"]);
  } finally {
    await a.stop();
    f.cleanup();
  }
});

/** One unary call on a shared client (one HTTP/2 connection per client). */
function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  init: MessageInitShape<I>,
): Promise<{ code: string; message?: ReturnType<typeof fromBinary<O>> }> {
  const path = `/${method.parent.typeName}/${method.name}`;
  const body = Buffer.from(toBinary(method.input, create(method.input, init)));
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 120_000 },
      (err, res) => {
        if (err) resolve({ code: grpc.status[err.code] ?? String(err.code) });
        else resolve({ code: "OK", message: fromBinary(method.output, res!) });
      },
    );
  });
}

Deno.test("reload: a policy flipping under hundreds of calls in flight; each request uses one generation", async () => {
  const f = await Fixture.create({ policy: policyV(1) });
  const a = await f.start();
  const clients = Array.from(
    { length: 8 },
    () => new grpc.Client(`unix:${f.socket}`, grpc.credentials.createInsecure()),
  );
  try {
    type Sent = { kind: "steady" | "flip" | "explain"; r: Awaited<ReturnType<typeof unary>> };
    const calls: Promise<Sent>[] = [];
    const wave = (size: number) => {
      for (let i = 0; i < size; i++) {
        const c = clients[i % clients.length]!;
        const kind = (["steady", "flip", "explain"] as const)[i % 3]!;
        const p = kind === "explain"
          ? unary(c, pb.AdminService.method.explain, { subject: "app", op: "get", key: STEADY })
          : unary(c, pb.SecretService.method.getSecret, {
            secretId: kind === "flip" ? FLIP : STEADY,
          });
        calls.push(p.then((r) => ({ kind, r })));
      }
    };
    const RELOADS = 6;
    for (let n = 2; n <= RELOADS + 1; n++) {
      wave(120);
      writePolicy(f, n);
      const r = await unary(clients[n % clients.length]!, pb.AdminService.method.reload, {});
      assert.equal(r.code, "OK");
      assert.equal(r.message!.applied, true, r.message!.rejection?.message ?? "");
      assert.equal(r.message!.newGeneration, BigInt(n));
    }
    wave(120);
    const done = await Promise.all(calls);
    assert.ok(done.length >= 800);
    assert.equal(await generation(f), BigInt(RELOADS + 1));

    // None fails: steady and explain always succeed; flip is allowed or denied.
    const steady = done.filter((d) => d.kind === "steady");
    assert.deepEqual([...new Set(steady.map((d) => d.r.code))], ["OK"]);
    const values = new Set(
      steady.map((d) => new TextDecoder().decode((d.r.message as pb.GetSecretResponse).value)),
    );
    assert.equal(values.size, 1, "the steady key always returns its one value");
    const flip = done.filter((d) => d.kind === "flip");
    const flipCodes = flip.map((d) => d.r.code);
    assert.ok(flipCodes.every((c) => c === "OK" || c === "PERMISSION_DENIED"), flipCodes.join());

    // Every explain response names the rule of exactly one version.
    const explained = done.filter((d) => d.kind === "explain").map((d) => {
      assert.equal(d.r.code, "OK");
      const m = d.r.message as pb.ExplainResponse;
      assert.equal(m.decision, pb.ExplainDecision.ALLOW);
      const v = /^steady-v(\d+)$/.exec(m.matchedRule?.rule ?? "");
      assert.ok(v, `explain names one version's rule: ${m.matchedRule?.rule}`);
      return Number(v[1]);
    });

    // The last wave was sent after the last reload: it is seen on the last generation.
    assert.ok(explained.includes(RELOADS + 1));

    // The audit: each decision agrees with the policy of the generation it
    // records, and the responses are exactly those decisions.
    const records = f.auditRecords().filter((r) => r.event_kind === "basil.audit.authz");
    for (const r of records) {
      const g = r.generation as number;
      assert.ok(g >= 1 && g <= RELOADS + 1, `generation ${g}`);
      if (r.target_id === FLIP) {
        assert.equal(r.decision, g % 2 === 1 ? "allow" : "deny", `flip at generation ${g}`);
      } else assert.equal(r.decision, "allow", `${r.op} ${r.target_id}`);
    }
    const flipRecords = records.filter((r) => r.target_id === FLIP);
    assert.equal(
      flipRecords.filter((r) => r.decision === "allow").length,
      flipCodes.filter((c) => c === "OK").length,
    );
    assert.equal(flipRecords.length, flip.length);
    // An explain was authorized on generation G and explained with generation
    // G's rules: the two multisets are the same.
    const explainGens = records.filter((r) => r.op === "explain").map((r) =>
      r.generation as number
    );
    assert.deepEqual([...explainGens].sort((x, y) => x - y), [...explained].sort((x, y) => x - y));
    assert.equal(reloadLines(f).filter((r) => r.outcome === "applied").length, RELOADS);
  } finally {
    for (const c of clients) c.close();
    await a.stop();
    f.cleanup();
  }
});
