/**
 * An error no request owns ends the agent: one fixed line naming only the
 * error's type (a foreign message could quote request or secret bytes) and
 * exit status 70, so systemd restarts it. Errors inside a request fail only
 * that request (transport_test.ts, audit_outcome_test.ts).
 */

import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";
import { FATAL_EXIT } from "../../lib/daemon.ts";

for (
  const [how, kind, type] of [
    ["throw", "uncaught exception", "TypeError"],
    ["reject", "unhandled rejection", "RangeError"],
  ] as const
) {
  Deno.test(`an ${kind} outside a request exits ${FATAL_EXIT} with one fixed line`, async () => {
    const out = await new Deno.Command("deno", {
      args: [
        "run",
        "--quiet",
        "--config",
        `${ROOT}/deno.json`,
        `${ROOT}/tests/fixtures/agent/fatal.ts`,
        how,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, FATAL_EXIT, stderr);
    assert.equal(stderr, `basil agent: fatal ${kind} (${type}); exiting\n`);
    assert.ok(!stderr.includes("canary"));
  });
}
