/**
 * Payloads of encrypt, sign and verify: a positional (argv) value warns once
 * that argv is visible to other local users; a file or stdin does not.
 */

import assert from "node:assert/strict";
import { readPayload } from "../../../lib/cli/commands/payload.ts";
import { testContext } from "./helpers.ts";

Deno.test("a positional plaintext warns once and names the file/stdin alternative", async () => {
  const ctx = testContext();
  const bytes = await readPayload(ctx, "hunter2", undefined, "plaintext-file");
  assert.deepEqual(bytes, new TextEncoder().encode("hunter2"));
  const warnings = ctx.stderr().split("\n").filter((l) => l !== "");
  assert.equal(warnings.length, 1, ctx.stderr());
  assert.match(
    warnings[0]!,
    /^warning: a plaintext on the command line is visible to other local users/,
  );
  assert.match(warnings[0]!, /ps, \/proc/);
  assert.match(warnings[0]!, /--plaintext-file <path> or - for stdin/);
  assert.ok(!ctx.stderr().includes("hunter2"), "the warning never repeats the value");
  assert.equal(ctx.stdout(), "");
});

Deno.test("a positional message (sign, verify) names --message-file", async () => {
  const ctx = testContext();
  await readPayload(ctx, "release v1", undefined, "message-file");
  assert.match(
    ctx.stderr(),
    /a message on the command line .*--message-file <path> or - for stdin/,
  );
});

Deno.test("stdin and files never warn", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-payload-" });
  try {
    Deno.writeTextFileSync(`${dir}/p`, "from-file");
    for (
      const [positional, file] of [
        ["-", undefined],
        [undefined, "-"],
        [undefined, `${dir}/p`],
      ] as const
    ) {
      const ctx = testContext({ stdin: new TextEncoder().encode("from-stdin") });
      const b = await readPayload(ctx, positional, file, "plaintext-file");
      assert.ok(b.length > 0);
      assert.equal(ctx.stderr(), "", `${positional} ${file}`);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an unreadable payload file names the flag, the path and the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-payload-" });
  try {
    const ctx = testContext();
    await assert.rejects(
      () => readPayload(ctx, undefined, `${dir}/missing`, "message-file"),
      { message: `--message-file ${dir}/missing: cannot read: no such file` },
    );
    assert.equal(ctx.stderr(), "");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
