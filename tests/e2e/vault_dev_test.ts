/**
 * `deno task dev --engine openbao`: without `bao` on PATH it says what to
 * install; with one it boots the dev server, sets it up, seals a bundle and
 * prints the commands. No OpenBao can be installed here, so the "with" case
 * puts a shim named `bao` on PATH that runs the vault double with the same
 * `server -dev` flags (tests/fakes/vault/main.ts): it checks the fixture's
 * wiring, not a real OpenBao.
 */

import assert from "node:assert/strict";
import { ROOT } from "../helpers/cli.ts";

const dec = new TextDecoder();

async function runDev(path: string, home: string) {
  return await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/tools/dev.ts`, "--engine", "openbao"],
    env: { PATH: path, BASIL_DEV_ONESHOT: "1", HOME: home },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("dev --engine openbao without bao on PATH says what to install", async () => {
  const empty = await Deno.makeTempDir({ prefix: "basil-devpath-" });
  try {
    const out = await runDev(empty, empty);
    assert.equal(out.code, 1);
    const err = dec.decode(out.stderr);
    assert.match(err, /no `bao` on PATH/);
    assert.match(err, /Install OpenBao/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("dev --engine openbao with a bao shim seals a bundle and prints the commands", async () => {
  const bin = await Deno.makeTempDir({ prefix: "basil-devbin-" });
  try {
    Deno.writeTextFileSync(
      `${bin}/bao`,
      `#!/bin/sh\nexec ${Deno.execPath()} run -A ${ROOT}/tests/fakes/vault/main.ts "$@"\n`,
      { mode: 0o755 },
    );
    const out = await runDev(`${bin}:/usr/bin:/bin`, bin);
    const text = dec.decode(out.stdout);
    assert.equal(out.code, 0, dec.decode(out.stderr));
    assert.match(text, /openbao dev server on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(text, /get --key-id app\.db_password/);
    const dir = `${ROOT}/.dev/openbao`;
    assert.equal(Deno.statSync(`${dir}/bundle.sealed`).mode! & 0o777, 0o600);
    const catalog = JSON.parse(Deno.readTextFileSync(`${dir}/catalog.json`));
    assert.equal(catalog.backends.bao.kind, "vault");
    assert.equal(catalog.keys["app.db_password"].path, "secret/data/app/db-password");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
