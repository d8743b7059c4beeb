/**
 * Crash consistency (issue 16 item 1), against the real agent and CLI.
 *
 * Agent: writers (set over the socket and through the CLI, rotate of a
 * value and of a key, NewKey, Import, Revoke into the revocation store) run
 * concurrently, and the agent is SIGKILLed when a seeded random number of
 * acknowledgements has arrived, with the other calls still in flight. It is
 * restarted every round and must start; then every write a caller saw
 * succeed is there with its value and version, a write in flight landed
 * whole or not at all, the audit chain verifies with an `allow` record for
 * every acknowledged operation, the revocation store parses and holds
 * every acknowledged JTI, the epoch sidecar is whole, and the keystore
 * passes SQLite's integrity check.
 *
 * CLI: bundle edits (deposit, allow, set-backend, promote) are SIGKILLed at
 * the k-th filesystem event in the bundle's directory (k seeded; some
 * rounds let the command finish): the bundle is the old bytes or a whole
 * new bundle with the edit, the epoch sidecar is whole and never ahead of
 * the bundle, and the agent still unlocks it.
 *
 * `BASIL_CRASH_SEED` replays a run (the seed is printed);
 * `BASIL_CRASH_ROUNDS` sets the rounds of each test (default 4).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { BrokerClient } from "../../lib/cli/client.ts";
import { readEpochSidecar } from "../../lib/seal/epoch.ts";
import { decodeBundle, type DecodedBundle } from "../../lib/seal/format.ts";
import { basil, basilCommand, ROOT } from "../helpers/cli.ts";
import { Fixture, type RunningAgent } from "../helpers/fixture.ts";
import { crashCatalog, crashPolicy, envInt, Ledger, Rng, runSeed } from "./crash_helpers.ts";
import {
  checkAudit,
  checkState,
  cliLane,
  keyLane,
  revokeLane,
  rotateLane,
  type Round,
  setLane,
} from "./crash_writers.ts";

const ROUNDS = envInt("BASIL_CRASH_ROUNDS", 4);

function announce(what: string, seed: number): void {
  // deno-lint-ignore no-console
  console.log(`  ${what}: seed ${seed}, ${ROUNDS} rounds (BASIL_CRASH_SEED / BASIL_CRASH_ROUNDS)`);
}

/** The sidecar is absent or a whole `<n>\n`. */
function sidecarWhole(f: Fixture, why: string): number | undefined {
  try {
    const text = Deno.readTextFileSync(`${f.bundle}.epoch`);
    assert.match(text, /^\d+\n$/, `${why}: epoch sidecar is whole`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return readEpochSidecar(f.bundle);
}

/** The bundle decoded, or a failure saying it is torn. */
function decoded(bytes: Uint8Array, f: Fixture, why: string): DecodedBundle {
  try {
    return decodeBundle(bytes, f.bundle);
  } catch (e) {
    throw new Error(`${why}: the bundle is torn: ${e instanceof Error ? e.message : e}`);
  }
}

Deno.test("crash: SIGKILL of the agent mid-write loses no acknowledged write and shows nothing half-written", async () => {
  const seed = runSeed();
  announce("agent kill", seed);
  const rng = new Rng(seed);
  const slots = ROUNDS * 12 + 8;
  const f = await Fixture.create({ catalog: crashCatalog(slots), policy: crashPolicy });
  const ledger = new Ledger();
  const next = { nk: 0, im: 0, jti: 0 };
  let agent: RunningAgent | undefined;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const why = `seed ${seed}, round ${round}`;
      agent = await f.start().catch((e) => {
        throw new Error(`${why}: the agent did not start: ${e}`);
      });
      const client = new BrokerClient(f.socket);
      try {
        if (round > 0) {
          await checkState(client, ledger, `${why} (after the restart)`);
          checkAudit(f, ledger, why);
        }
        // Kill when this many acknowledgements arrived (counted across lanes).
        const killAt = rng.int(1, 10);
        let acks = 0;
        const a = agent;
        const r: Round = {
          f,
          client,
          rng,
          ledger,
          next,
          slots,
          dead: false,
          onAck() {
            if (++acks < killAt || r.dead) return;
            r.dead = true;
            a.child.kill("SIGKILL");
          },
        };
        const lanes = [setLane(r), rotateLane(r), keyLane(r), revokeLane(r)];
        // The CLI lane (a process per call) in every other round.
        if (round % 2 === 0) lanes.push(cliLane(r));
        const done = Promise.all(lanes);
        // A lane that runs out of slots ends; the kill then comes from here.
        await Promise.race([done, agent.exited()]);
        if (!r.dead) {
          r.dead = true;
          a.child.kill("SIGKILL");
        }
        await done;
        const exit = await agent.exited();
        assert.notEqual(exit.code, 0, `${why}: the agent was killed`);
      } finally {
        client.close();
      }
      sidecarWhole(f, why);
    }
    // The last crash: restart, check, and a clean stop.
    agent = await f.start();
    const client = new BrokerClient(f.socket);
    try {
      const why = `seed ${seed}, final`;
      await checkState(client, ledger, why);
      checkAudit(f, ledger, why);
      assert.ok(ledger.acked.length > 0, `${why}: something was acknowledged`);
      using db = new DatabaseSync(f.db, { readOnly: true });
      const integrity = db.prepare("PRAGMA integrity_check").get()?.integrity_check;
      assert.equal(integrity, "ok", `${why}: keystore integrity_check`);
    } finally {
      client.close();
    }
    await agent.stop();
    agent = undefined;
    const kinds = new Map<string, number>();
    for (const a of ledger.acked) kinds.set(a.op, (kinds.get(a.op) ?? 0) + 1);
    // deno-lint-ignore no-console
    console.log(`  acknowledged: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")}`);
    const v = await basil(["audit", "verify", f.audit]);
    assert.equal(v.code, 0, `seed ${seed}: basil audit verify:\n${v.stdout}${v.stderr}`);
    assert.match(v.stdout, /^ok: \d+ records\n$/);
  } finally {
    if (agent) await agent.stop();
    f.cleanup();
  }
});

type Edit = "deposit" | "allow" | "set-backend" | "promote";

Deno.test("crash: SIGKILL of the CLI during a bundle edit leaves the old or the new bundle, and it unlocks", async () => {
  const seed = runSeed();
  announce("CLI kill", seed);
  const rng = new Rng(seed);
  const f = await Fixture.create({ catalog: crashCatalog(0), policy: crashPolicy, audit: false });
  const open = ["--open", `passphrase:file=${f.passphrase}`];
  const backend = `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`;
  const recipient = `${f.dir}/deposit.pub`;
  const seedFile = `${f.dir}/alice.seed`;
  const must = async (args: string[]) => {
    const r = await basil(args);
    assert.equal(r.code, 0, `basil ${args.join(" ")}:\n${r.stderr}`);
    return r.stdout;
  };
  let contributors = 1;
  const outcomes = { old: 0, new: 0, finished: 0 };
  try {
    // A value to read back after every unlock.
    const a0 = await f.start();
    assert.equal((await f.cli(["set", "--key-id", "app.set", "kept"])).code, 0);
    await a0.stop();
    await must(["bundle", "deposit-key", f.bundle, "--out", recipient, ...open]);
    await must(["bundle", "contributor-key", "-i", seedFile, "--new"]);
    const alice = (await must(["bundle", "contributor-key", "-i", seedFile])).trim();
    await must([
      "bundle",
      "allow",
      f.bundle,
      "--contributor",
      alice,
      "--contributor-id",
      "alice",
      "--backend",
      "db",
      ...open,
    ]);

    for (let round = 0; round < ROUNDS; round++) {
      const before = decodeBundle(Deno.readFileSync(f.bundle), f.bundle);
      const oldBytes = Deno.readFileSync(f.bundle);
      const edit: Edit = before.deposits.length > 0 && rng.int(0, 2) === 0
        ? "promote"
        : rng.pick(["deposit", "deposit", "allow", "set-backend"] as const);
      const args: Record<Edit, string[]> = {
        deposit: [
          "bundle",
          "deposit",
          f.bundle,
          "--backend",
          backend,
          "-r",
          recipient,
          "-i",
          seedFile,
          "--contributor-id",
          "alice",
        ],
        allow: [
          "bundle",
          "allow",
          f.bundle,
          "--contributor",
          alice,
          "--contributor-id",
          `c${contributors++}`,
          "--backend",
          "db",
          ...open,
        ],
        "set-backend": ["bundle", "set-backend", f.bundle, "--backend", backend, ...open],
        promote: ["bundle", "promote", f.bundle, ...open],
      };
      // Kill at the k-th filesystem event in the directory (k = 0: right
      // away); a k past the command's last event lets it finish.
      const killAt = rng.int(0, 8);
      const why = `seed ${seed}, round ${round}, ${edit}, kill at event ${killAt}`;
      const watcher = Deno.watchFs(f.dir, { recursive: false });
      const [cmd, ...rest] = basilCommand(args[edit]);
      const child = new Deno.Command(cmd!, {
        args: rest,
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      let events = 0;
      let killed = false;
      const kill = () => {
        if (killed) return;
        killed = true;
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
      };
      if (killAt === 0) kill();
      const watching = (async () => {
        for await (const e of watcher) {
          if (e.paths.some((p) => p.startsWith(f.bundle)) && ++events >= killAt) kill();
        }
      })();
      const status = await child.status;
      watcher.close();
      await watching;
      const err = await stderr;
      if (!killed || status.signal !== "SIGKILL") {
        assert.equal(status.code, 0, `${why}: the edit finished:\n${err}`);
      }

      // Old bytes, or a whole bundle that carries the edit.
      const nowBytes = Deno.readFileSync(f.bundle);
      const same = nowBytes.length === oldBytes.length &&
        nowBytes.every((b, i) => b === oldBytes[i]);
      if (!same) {
        const after = decoded(nowBytes, f, why);
        if (edit === "deposit") {
          assert.equal(
            after.deposits.length,
            before.deposits.length + 1,
            `${why}: one deposit more`,
          );
          assert.equal(after.header.epoch, before.header.epoch, `${why}: epoch kept`);
        } else if (edit === "promote") {
          assert.equal(after.header.epoch, before.header.epoch + 1, `${why}: epoch + 1`);
          assert.equal(after.deposits.length, 0, `${why}: deposits folded in`);
        } else {
          assert.equal(after.header.epoch, before.header.epoch, `${why}: epoch kept`);
          assert.equal(after.deposits.length, before.deposits.length, `${why}: deposits kept`);
        }
      } else if (!killed) {
        assert.fail(`${why}: the edit finished but the bundle did not change`);
      }
      outcomes[!killed || status.signal !== "SIGKILL" ? "finished" : same ? "old" : "new"]++;
      const epoch = decoded(nowBytes, f, why).header.epoch;
      const side = sidecarWhole(f, why);
      assert.ok(side === undefined || side <= epoch, `${why}: sidecar ${side} ≤ bundle ${epoch}`);

      // The agent unlocks what is there and reads the value written before.
      const a = await f.start().catch((e) => {
        throw new Error(`${why}: the agent did not start: ${e}`);
      });
      try {
        const got = await f.cli(["get", "--key-id", "app.set", "--format", "raw"]);
        assert.equal(got.stdout, "kept", `${why}: the value survives`);
      } finally {
        await a.stop();
      }
      assert.equal(sidecarWhole(f, why), epoch, `${why}: the agent recorded the epoch`);
    }
    // deno-lint-ignore no-console
    console.log(
      `  killed leaving the old bundle ${outcomes.old}, the new ${outcomes.new}; ` +
        `finished ${outcomes.finished}`,
    );
  } finally {
    f.cleanup();
  }
});
