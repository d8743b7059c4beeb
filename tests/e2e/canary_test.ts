/**
 * Canary secrets never leak. A unique passphrase, DEK and value are planted;
 * the agent is driven through every Tier 1 path (allowed, denied, unknown,
 * malformed); then every output is searched for the canaries in raw, hex and
 * base64 form: CLI stdout and stderr, the agent's stderr, the audit log, the
 * SQLite files, the bundle, and the argv and environment of the launcher and
 * the agent process. A failed start with a wrong passphrase is searched too.
 */

import assert from "node:assert/strict";
import { toBase64, toHex } from "../../lib/core/encoding.ts";
import { Fixture, readProc, runAgentToExit } from "../helpers/fixture.ts";

const enc = new TextEncoder();

function forms(secret: Uint8Array): Uint8Array[] {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(secret);
  return [
    secret,
    enc.encode(toHex(secret)),
    enc.encode(toHex(secret).toUpperCase()),
    enc.encode(toBase64(secret)),
    enc.encode(toBase64(secret).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")),
    enc.encode(JSON.stringify(text).slice(1, -1)),
  ].filter((f) => f.length >= 8);
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function assertNoCanary(where: string, hay: Uint8Array, canaries: Record<string, Uint8Array>) {
  for (const [name, secret] of Object.entries(canaries)) {
    for (const f of forms(secret)) {
      assert.ok(!contains(hay, f), `${name} canary found in ${where}`);
    }
  }
}

function readIf(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch {
    return new Uint8Array();
  }
}

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
    outputs.push([p, readIf(p)]);
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
