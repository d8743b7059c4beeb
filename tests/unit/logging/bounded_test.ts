/** The bounded log: a burst per reason, then suppressed lines summarized once per window. */

import assert from "node:assert/strict";
import { BoundedLog } from "../../../lib/logging/bounded.ts";
import type { LogFields } from "../../../lib/core/log.ts";

Deno.test("bounded log: burst per reason, suppressed counted and summarized once per window", () => {
  let now = 0;
  const lines: { msg: string; fields: LogFields }[] = [];
  let suppressed = 0;
  const log = new BoundedLog({
    logger: { log: (_l, msg, fields = {}) => lines.push({ msg, fields }) },
    level: "warn",
    message: "abuse",
    burst: 3,
    windowMs: 60_000,
    now: () => now,
    onSuppressed: () => suppressed++,
  });
  for (let i = 0; i < 10; i++) log.report("a");
  log.report("b");
  assert.equal(lines.filter((l) => l.fields.reason === "a").length, 3);
  assert.equal(lines.filter((l) => l.fields.reason === "b").length, 1);
  assert.equal(suppressed, 7);
  log.summarize();
  const summary = lines.at(-1)!;
  assert.equal(summary.msg, "abuse (lines suppressed)");
  assert.deepEqual(summary.fields, { reason: "a", suppressed: 7 });
  // Within the window: no second summary; tokens come back with time.
  log.report("a");
  log.summarize();
  assert.equal(lines.filter((l) => l.msg.endsWith("suppressed)")).length, 1);
  now = 20_000; // one token back (3 per minute)
  const before = lines.length;
  log.report("a");
  assert.equal(lines.length, before + 1);
  now = 70_000;
  log.summarize();
  assert.deepEqual(lines.at(-1)!.fields, { reason: "a", suppressed: 1 });
});
