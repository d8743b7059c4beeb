/**
 * Audit sinks: the no-file sink writes each record as its own line straight
 * to its output whatever the logger drops; a failed write reports false and
 * is counted; after a partial write the next record starts on a fresh line.
 */

import assert from "node:assert/strict";
import { openAuditFile, stderrAuditSink } from "../../../lib/audit/sink.ts";
import type { SyncWrite } from "../../../lib/audit/sink.ts";
import { jsonLogger, nullLogger } from "../../../lib/core/log.ts";

const dec = new TextDecoder();

function capture(): { out: SyncWrite; text: () => string } {
  const chunks: Uint8Array[] = [];
  return {
    out: (b) => {
      chunks.push(b.slice());
      return b.length;
    },
    text: () => chunks.map((c) => dec.decode(c)).join(""),
  };
}

Deno.test("stderr audit sink: one line per record, independent of the log level", () => {
  const logged: string[] = [];
  // A logger that keeps only errors, as `logging.level = "error"` would.
  const logger = jsonLogger({ minLevel: "error", write: (l) => logged.push(l) });
  const c = capture();
  const sink = stderrAuditSink(logger, c.out);
  assert.equal(sink.write({ event_kind: "basil.audit.authz", n: 1 }), true);
  assert.equal(sink.write({ event_kind: "basil.audit.authz", n: 2, s: "a\nb" }), true);
  const lines = c.text().split("\n");
  assert.deepEqual(lines.slice(0, 2).map((l) => JSON.parse(l).n), [1, 2]);
  assert.equal(lines[2], "");
  assert.equal(logged.length, 0, "records do not go through the logger");
  assert.equal(sink.failures, 0);
});

Deno.test("audit sink: a failed write returns false and is counted, never thrown", () => {
  const logged: string[] = [];
  const logger = jsonLogger({ write: (l) => logged.push(l) });
  const sink = stderrAuditSink(logger, () => {
    throw new Error("EIO");
  });
  assert.equal(sink.write({ a: 1 }), false);
  assert.equal(sink.write({ a: 2 }), false);
  assert.equal(sink.failures, 2);
  assert.equal(logged.length, 1, "the first failure is logged");
  assert.match(logged[0]!, /audit \(stderr\) write failed/);
});

Deno.test("audit sink: a writer that makes no progress is a failure, not a hang", () => {
  const sink = stderrAuditSink(nullLogger, () => 0);
  assert.equal(sink.write({ a: 1 }), false);
  assert.equal(sink.failures, 1);
});

Deno.test("audit sink: after a partial write the next record starts on a fresh line", () => {
  const c = capture();
  // As write(2) does: a short write, then an error on the rest, then recovery.
  let calls = 0;
  const sink = stderrAuditSink(nullLogger, (b) => {
    calls++;
    if (calls === 1) return c.out(b.subarray(0, 7));
    if (calls === 2) throw new Error("ENOSPC");
    return c.out(b);
  });
  assert.equal(sink.write({ first: true }), false);
  assert.equal(sink.write({ second: true }), true);
  assert.equal(sink.write({ third: true }), true);
  const lines = c.text().split("\n");
  assert.equal(lines[0], '{"first', "the torn fragment stays on its own line");
  assert.deepEqual(JSON.parse(lines[1]!), { second: true });
  assert.deepEqual(JSON.parse(lines[2]!), { third: true });
  assert.equal(lines[3], "");
});

Deno.test("audit file: writes after close fail (closed fd) and are counted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-audit-" });
  try {
    const path = `${dir}/audit.jsonl`;
    const sink = openAuditFile(path, nullLogger);
    assert.equal(sink.write({ n: 1 }), true);
    sink.close();
    assert.equal(sink.write({ n: 2 }), false);
    assert.equal(sink.failures, 1);
    const lines = Deno.readTextFileSync(path).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((r) => r.n), [undefined, 1], "the start record, then n=1 only");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
