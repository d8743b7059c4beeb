// deno-lint-ignore-file no-console
/**
 * The cost of the audit durability policy (`audit-fsync`): the real file
 * sink in-process, `C` concurrent callers each settling records the way
 * lib/broker/call.ts does (write, then await flush), for each policy.
 * Prints records/s and p50/p99 of write+flush per record.
 *
 *   deno run --allow-read --allow-write bench/audit_fsync.ts [DIR] [RECORDS] [CONCURRENCY]
 *
 * DIR defaults to a temp dir (put it on the disk the audit log lives on:
 * a tmpfs syncs for free).
 */

import { openAuditFile } from "../lib/audit/sink.ts";
import { nullLogger } from "../lib/core/log.ts";

const dir = Deno.args[0] ?? Deno.makeTempDirSync({ prefix: "basil-audit-bench-" });
const total = Number(Deno.args[1] ?? 2000);
const concurrency = Number(Deno.args[2] ?? 16);
const record = {
  event_kind: "basil.audit.authz",
  event_version: 2,
  occurred_at: "2025-01-01T00:00:00Z",
  generation: 1,
  op: "get",
  target_kind: "catalog_key",
  target_id: "app.db_password",
  actor_kind: "subject",
  actor_id: "app",
  authenticated_by: ["unix_peercred:1000"],
  presenter_kind: "unix_peercred",
  presenter_id: "app(1000)",
  decision: "allow",
  outcome: "allow",
  reason: "subject:app",
};

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

for (const fsync of ["never", "batch", "always"] as const) {
  const path = `${dir}/bench-${fsync}.jsonl`;
  const sink = openAuditFile(path, nullLogger, { fsync });
  const lat: number[] = [];
  let left = total;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) {
      const s = performance.now();
      if (!sink.write(record) || !(await sink.flush!())) throw new Error("audit write failed");
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  sink.close();
  Deno.removeSync(path);
  console.log(
    `${fsync.padEnd(6)} c=${concurrency} ${total} records: ${(total / secs).toFixed(0)} rec/s, ` +
      `p50 ${(pct(lat, 50) * 1000).toFixed(0)} us, p99 ${(pct(lat, 99) * 1000).toFixed(0)} us`,
  );
}
if (Deno.args[0] === undefined) Deno.removeSync(dir, { recursive: true });
