/**
 * Canary secrets never leak. A unique passphrase, DEK and value are planted;
 * the agent is driven through every Tier 1 path (allowed, denied, unknown,
 * malformed); then every output is searched for the canaries in raw, hex and
 * base64 form: CLI stdout and stderr, the agent's stderr, the audit log, the
 * SQLite files, the bundle, and the argv and environment of the launcher and
 * the agent process. A failed start with a wrong passphrase is searched too.
 */

import assert from "node:assert/strict";
import { Fixture, readProc, runAgentToExit } from "../helpers/fixture.ts";
import { assertNoCanary, readIfExists } from "../helpers/canary.ts";

const enc = new TextEncoder();

Deno.test("canary passphrase, DEK and value appear in no output", async () => {
  const tag = crypto.randomUUID().replaceAll("-", "");
  const passphrase = enc.encode(`CANARY-PASSPHRASE-${tag}`);
  const dek = new Uint8Array(32);
  dek.set(enc.encode("CANARYDEK-"));
  dek.set(crypto.getRandomValues(new Uint8Array(22)), 10);
  const value = enc.encode(`CANARY-VALUE-${tag}`);
  const canaries = { passphrase, dek, value };

  const f = await Fixture.create({}, { passphrase, dek });
  const a = await f.start();
  const outputs: [string, Uint8Array][] = [];
  const run = async (args: string[], stdin?: Uint8Array) => {
    const r = await f.cli(args, stdin ? { stdin } : {});
    outputs.push([`stdout of basil ${args.join(" ")}`, r.stdoutBytes]);
    outputs.push([`stderr of basil ${args.join(" ")}`, enc.encode(r.stderr)]);
    return r;
  };
  try {
    assert.equal(
      (await run(["set", "--key-id", "app.api_token", "--value-file", "-"], value)).code,
      0,
    );
    for (
      const args of [
        ["status", "--json"],
        ["health"],
        ["ready", "--json"],
        ["list"],
        ["get", "--key-id", "app.db_password"],
        ["rotate", "--key-id", "app.db_password"],
        ["get", "--key-id", "ops.root_token"],
        ["get", "--key-id", "no.such.key"],
        ["get", "--key-id", "app.api_token", "--version", "99"],
        ["set", "--key-id", "app.readonly", "--value-file", "-"],
        ["explain", "-c", f.config, "--subject", "app", "--op", "get", "--key", "app.api_token"],
        ["bundle", "show", f.bundle],
      ]
    ) await run(args, args.includes("-") ? value : undefined);
    // The proc views of both processes while serving.
    const launcher = a.child.pid;
    const agent = a.agentPid!;
    for (const pid of [launcher, agent]) {
      outputs.push([`/proc/${pid}/cmdline`, readProc(`/proc/${pid}/cmdline`)]);
      outputs.push([`/proc/${pid}/environ`, readProc(`/proc/${pid}/environ`)]);
    }
  } finally {
    const { code, stderr } = await a.stop();
    assert.equal(code, 0);
    outputs.push(["agent stderr", enc.encode(stderr)]);
  }
  for (const p of [f.audit, f.db, `${f.db}-wal`, `${f.db}-shm`, f.bundle, `${f.bundle}.epoch`]) {
    outputs.push([p, readIfExists(p)]);
  }
  try {
    for (const [where, bytes] of outputs) assertNoCanary(where, bytes, canaries);
    // The value was really stored: the test would be vacuous otherwise.
    const b = await f.start();
    const got = await f.cli(["get", "--key-id", "app.api_token", "--format", "raw"]);
    await b.stop();
    assert.deepEqual(got.stdoutBytes, value);
    assert.throws(() => assertNoCanary("get", got.stdoutBytes, { value }), /value canary/);
  } finally {
    f.cleanup();
  }
});

Deno.test("a failed start with a wrong passphrase leaks neither passphrase", async () => {
  const tag = crypto.randomUUID().replaceAll("-", "");
  const right = enc.encode(`RIGHT-CANARY-${tag}`);
  const wrong = enc.encode(`WRONG-CANARY-${tag}`);
  const f = await Fixture.create({}, { passphrase: right });
  try {
    Deno.writeFileSync(f.passphrase, wrong, { mode: 0o600 });
    const r = await runAgentToExit(f);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("basil agent:"));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /no configured unlock slot opened it/);
    assertNoCanary("agent stderr", enc.encode(r.stderr), { right, wrong });
    assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound);
  } finally {
    f.cleanup();
  }
});
