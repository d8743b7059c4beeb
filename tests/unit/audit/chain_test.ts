/**
 * The audit file's hash chain, written by the real file sink and checked by
 * the verifier: an intact file (across a restart and a rotation) verifies;
 * an edited, deleted, reordered or truncated record is found and its line
 * named; a rotated file links to the last record of the one before it.
 */

import assert from "node:assert/strict";
import { CHAIN_START_KIND } from "../../../lib/audit/chain.ts";
import { openAuditFile } from "../../../lib/audit/sink.ts";
import { verifyAuditFile, verifyAuditLog } from "../../../lib/audit/verify.ts";
import { nullLogger } from "../../../lib/core/log.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = await Deno.makeTempDir({ prefix: "basil-chain-" });
    try {
      await fn(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
}

/** A chained file of a start record and `n` records; returns its lines (without newlines). */
function writeChain(path: string, n: number): string[] {
  const sink = openAuditFile(path, nullLogger, { fsync: "never" });
  for (let i = 1; i <= n; i++) assert.equal(sink.write({ event_kind: "t", n: i }), true);
  sink.close();
  return dec.decode(Deno.readFileSync(path)).split("\n").slice(0, -1);
}

const join = (lines: string[]) => enc.encode(lines.map((l) => l + "\n").join(""));

Deno.test(
  "audit chain: an intact file verifies, and a restart continues the chain in place",
  withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    writeChain(path, 3);
    const lines = writeChain(path, 2); // a second start appends to the same file
    assert.equal(lines.length, 7);
    const recs = lines.map((l) => JSON.parse(l));
    assert.deepEqual(recs.map((r) => r.seq), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(recs[0].event_kind, CHAIN_START_KIND);
    assert.equal(recs[0].prev, null);
    assert.equal(recs[4].event_kind, CHAIN_START_KIND);
    const v = await verifyAuditFile(path);
    assert.deepEqual({ ok: v.ok, records: v.records }, { ok: true, records: 7 });
    assert.match(v.lastHash!, /^sha256:[0-9a-f]{64}$/);
  }),
);

Deno.test(
  "audit chain: an edited, deleted or reordered record names its line",
  withDir((dir) => {
    const lines = writeChain(`${dir}/audit.jsonl`, 5);
    const cases: [string, string[], number, RegExp][] = [
      ["edited", lines.map((l, i) => i === 2 ? l.replace('"n":2', '"n":9') : l), 3, /edited/],
      ["deleted", lines.filter((_, i) => i !== 3), 4, /1 record\(s\) missing/],
      [
        "reordered",
        [lines[0]!, lines[1]!, lines[3]!, lines[2]!, lines[4]!, lines[5]!],
        3,
        /missing|out of order/,
      ],
      ["start record cut", lines.slice(1), 1, /does not begin with a chain start record/],
      ["blank line", [...lines.slice(0, 2), "", ...lines.slice(2)], 3, /empty line/],
      ["not JSON", [...lines.slice(0, 4), "{garbage", ...lines.slice(4)], 5, /not a JSON/],
    ];
    for (const [what, tampered, line, reason] of cases) {
      const v = verifyAuditLog(join(tampered));
      assert.equal(v.ok, false, what);
      assert.equal(v.line, line, `${what}: ${v.reason}`);
      assert.match(v.reason!, reason, what);
    }
    // An edit that also rewrites the seq still breaks the hash link.
    const renumbered = lines.filter((_, i) => i !== 2).map((l, i) =>
      i >= 2 ? JSON.stringify({ ...JSON.parse(l), seq: i }) : l
    );
    const v = verifyAuditLog(join(renumbered));
    assert.equal(v.ok, false);
    assert.equal(v.line, 2);
    assert.match(v.reason!, /edited/);
  }),
);

Deno.test(
  "audit chain: a truncated last line is named; a cut tail shows against the next file",
  withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    const lines = writeChain(path, 3);
    const whole = join(lines);
    const torn = verifyAuditLog(whole.subarray(0, whole.length - 5));
    assert.equal(torn.ok, false);
    assert.equal(torn.line, 4);
    assert.match(torn.reason!, /truncated/);
    assert.equal(torn.records, 3);
    const noNewline = verifyAuditLog(whole.subarray(0, whole.length - 1));
    assert.equal(noNewline.line, 4);
    assert.match(verifyAuditLog(new Uint8Array()).reason!, /empty file/);

    // Rotation: the file is moved and the sink reopened (SIGHUP); the new
    // file's start record links to the old file's last record.
    const sink = openAuditFile(path, nullLogger, { fsync: "always" });
    sink.write({ event_kind: "t", n: 4 });
    assert.equal(await sink.flush!(), true);
    await Deno.rename(path, `${path}.1`);
    sink.reopen();
    sink.write({ event_kind: "t", n: 5 });
    sink.close();
    const old = await verifyAuditFile(`${path}.1`);
    assert.equal(old.ok, true);
    const next = await verifyAuditFile(path, { previousLastHash: old.lastHash! });
    assert.deepEqual({ ok: next.ok, records: next.records }, { ok: true, records: 2 });
    const first = JSON.parse(dec.decode(Deno.readFileSync(path)).split("\n")[0]!);
    assert.equal(first.reason, "reopen");
    assert.equal(first.seq, JSON.parse(lines.at(-1)!).seq + 3);

    // Records cut from the end of the old file: the old file alone still
    // verifies, but its last hash no longer matches the next file's link.
    const oldLines = dec.decode(Deno.readFileSync(`${path}.1`)).split("\n").slice(0, -1);
    const cut = verifyAuditLog(join(oldLines.slice(0, -1)));
    assert.equal(cut.ok, true);
    const broken = await verifyAuditFile(path, { previousLastHash: cut.lastHash! });
    assert.equal(broken.ok, false);
    assert.equal(broken.line, 1);
    assert.match(broken.reason!, /does not link to the previous file/);
  }),
);

Deno.test(
  "audit chain: after a torn tail the agent starts a fresh line and the verifier names the torn one",
  withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    writeChain(path, 2);
    const f = await Deno.open(path, { append: true });
    await f.write(enc.encode('{"event_kind":"t","n":'));
    f.close();
    const lines = writeChain(path, 1);
    assert.equal(lines[3], '{"event_kind":"t","n":', "the fragment stays on its own line");
    assert.equal(JSON.parse(lines[4]!).event_kind, CHAIN_START_KIND);
    const v = await verifyAuditFile(path);
    assert.equal(v.ok, false);
    assert.equal(v.line, 4);
    assert.match(v.reason!, /torn write/);
  }),
);

Deno.test(
  "audit fsync: every policy flushes; a closed sink has nothing left to sync",
  withDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    for (const fsync of ["always", "batch", "never"] as const) {
      const sink = openAuditFile(path, nullLogger, { fsync });
      const writes = Array.from({ length: 20 }, (_, i) => sink.write({ i }));
      assert.ok(writes.every((w) => w));
      const flushed = await Promise.all(writes.map(() => sink.flush!()));
      assert.ok(flushed.every((x) => x), fsync);
      sink.close();
    }
    const sink = openAuditFile(path, nullLogger, { fsync: "always" });
    sink.close();
    // Closed: a write fails, and there is nothing new to sync.
    assert.equal(sink.write({ late: true }), false);
    assert.equal(await sink.flush!(), true);
    assert.equal((await verifyAuditFile(path)).ok, true);
  }),
);
