/**
 * Independent oracle: our Argon2id output equals the Debian `argon2` CLI
 * (the reference implementation). Needs `--allow-run` and argon2: without
 * them the test reports itself ignored with the reason (and fails in CI).
 * @module
 */

import assert from "node:assert/strict";
import { toHex, utf8 } from "../../../lib/core/encoding.ts";
import { argon2idKdf, type Argon2Params } from "../../../lib/seal/kdf.ts";
import { gated, permission } from "../../helpers/peers.ts";

async function cli(pass: string, salt: string, p: Argon2Params): Promise<string> {
  const args = [salt, "-id", "-t", String(p.t_cost), "-k", String(p.m_cost_kib)];
  args.push("-p", String(p.p_cost), "-l", "32", "-r");
  const child = new Deno.Command("argon2", { args, stdin: "piped", stdout: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(utf8(pass));
  await w.close();
  const out = await child.output();
  assert.equal(out.code, 0, "argon2 CLI failed");
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test(gated([permission("run"), "argon2"], {
  name: "argon2 oracle: matches the reference argon2 CLI",
  fn: async () => {
    const cases: [string, string, Argon2Params][] = [
      ["correct horse battery staple", "salt1234salt1234", {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
      }],
      ["pw\u00e9\u4e2d", "0123456789abcdef", { m_cost_kib: 256, t_cost: 3, p_cost: 2 }],
      ["x", "saltsalt", { m_cost_kib: 100, t_cost: 2, p_cost: 4 }],
      ["production", "basil-salt-16byt", { m_cost_kib: 65536, t_cost: 3, p_cost: 1 }],
    ];
    for (const [pass, salt, p] of cases) {
      const ours = toHex(await argon2idKdf(utf8(pass), utf8(salt), p));
      assert.equal(ours, await cli(pass, salt, p), `${salt} ${JSON.stringify(p)}`);
    }
  },
}));
