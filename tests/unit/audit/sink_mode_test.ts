/**
 * The audit file's mode is judged on the opened handle (fstat), not by
 * looking the path up again: a wider existing file, even one reached through
 * a symlink, is tightened to 0600 and the warning names its old mode; the
 * records then go to that same file.
 */

import assert from "node:assert/strict";
import { openAuditFile } from "../../../lib/audit/sink.ts";
import { jsonLogger } from "../../../lib/core/log.ts";

Deno.test("audit file: a 0644 file behind a symlink is tightened on the held file and written", () => {
  const dir = Deno.makeTempDirSync({ prefix: "basil-audit-" });
  try {
    const real = `${dir}/real.jsonl`;
    Deno.writeTextFileSync(real, "");
    Deno.chmodSync(real, 0o644);
    Deno.symlinkSync(real, `${dir}/audit.jsonl`);
    const logged: string[] = [];
    const sink = openAuditFile(`${dir}/audit.jsonl`, jsonLogger({ write: (l) => logged.push(l) }));
    try {
      assert.equal(Deno.statSync(real).mode! & 0o777, 0o600);
      assert.equal(logged.length, 1);
      assert.equal(JSON.parse(logged[0]!).msg, "audit log mode tightened");
      assert.equal(JSON.parse(logged[0]!).was, "0644");
      assert.equal(sink.write({ n: 1 }), true);
      const last = Deno.readTextFileSync(real).trim().split("\n").at(-1)!;
      assert.equal(JSON.parse(last).n, 1);
    } finally {
      sink.close();
    }
    // A 0600 file is left alone, with no warning.
    const quiet: string[] = [];
    openAuditFile(real, jsonLogger({ write: (l) => quiet.push(l) })).close();
    assert.deepEqual(quiet, []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
