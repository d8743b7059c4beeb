/**
 * Fidelity of the fake `op`: the JSON it prints for `item create|get|edit|list`
 * is captured and type-checked (`deno check`) against the `Item` type of npm
 * @1password/op-js (pinned in deno.json), and a deliberately wrong fixture
 * must fail the same check, so the check can fail.
 *
 * op-js's `Field` union has no member for a custom CONCEALED field without
 * `purpose: "PASSWORD"` (which real op prints for such fields), so fields
 * are checked as op-js's `Field` or `ValueField` (id, type, label, value,
 * section?) and the rest of the item as `Item`. What this proves: the
 * fake's JSON has the shape op-js declares for op's output. What it does
 * not: that real `op` prints exactly this (no real `op` runs here).
 */

import assert from "node:assert/strict";
import { installFakeOp } from "./fake_op.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const TOKEN = "ops_fidelity";

async function op(opPath: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(opPath, {
    args,
    clearEnv: true,
    env: { OP_SERVICE_ACCOUNT_TOKEN: TOKEN },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

async function typeCheck(dir: string, fixtures: string): Promise<{ ok: boolean; out: string }> {
  const file = `${dir}/fixtures.ts`;
  await Deno.writeTextFile(
    file,
    `import type { Field, Item, ValueField } from "@1password/op-js";\n` +
      `type Checked = Omit<Item, "fields"> & { fields?: (Field | ValueField)[] };\n` +
      `export const items = ${fixtures} satisfies Checked[];\n`,
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--config", `${ROOT}deno.json`, file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { ok: r.success, out: new TextDecoder().decode(r.stderr) };
}

Deno.test("fake op: its item JSON type-checks against @1password/op-js Item", async () => {
  const fake = await installFakeOp({ tokens: [TOKEN] });
  try {
    const common = ["--vault", "Private", "--format", "json"];
    const created = await op(
      fake.opPath,
      [
        "item",
        "create",
        "--category",
        "Secure Note",
        "--title",
        "basil/p/q/x",
        "--tags",
        "automated,p",
        ...common,
      ],
      JSON.stringify({ fields: [{ id: "value", type: "CONCEALED", label: "value", value: "v" }] }),
    );
    const id = JSON.parse(created).id as string;
    const got = await op(fake.opPath, ["item", "get", "basil/p/q/x", ...common]);
    const tpl = JSON.parse(got);
    tpl.fields[1].value = "w";
    const edited = await op(
      fake.opPath,
      ["item", "edit", id, "--template", "/dev/stdin", ...common],
      JSON.stringify(tpl),
    );
    const listed = JSON.parse(await op(fake.opPath, ["item", "list", ...common]));
    assert.equal(JSON.parse(edited).version, 2);
    const listedJson = (listed as unknown[]).map((x) => JSON.stringify(x));
    assert.equal(listedJson.length, 1);
    const fixtures = `[${[created, got, edited, ...listedJson].join(",")}]`;
    const good = await typeCheck(fake.dir, fixtures);
    assert.ok(good.ok, good.out);
    const bad = await typeCheck(
      fake.dir,
      `[${got.replace('"SECURE_NOTE"', '"SECURE NOTE"')}]`,
    );
    assert.ok(!bad.ok, "a wrong category must fail the check");
  } finally {
    await fake.close();
  }
});
