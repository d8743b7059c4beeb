/**
 * `basil bundle create --from FILE` through the real CLI: a TOML plan of
 * `[[slot]]` and `[[backend]]` tables makes the same bundle the flags make
 * (same slots, same sealed backends), opens with its slots, and bad plans
 * fail with the file and the table named, writing nothing.
 */

import assert from "node:assert/strict";
import { basil } from "../helpers/cli.ts";

const enc = new TextEncoder();

Deno.test("bundle create --from TOML: same bundle as the flags; clear refusals", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-plan-" });
  try {
    const w = (name: string, content: string | Uint8Array) => {
      const p = `${dir}/${name}`;
      Deno.writeFileSync(p, typeof content === "string" ? enc.encode(content) : content, {
        mode: 0o600,
      });
      return p;
    };
    const pass = w("pass", "plan pass");
    const dek = w("dek", crypto.getRandomValues(new Uint8Array(32)));
    const tok = w("tok", "s.token\n");
    const plan = w(
      "plan.toml",
      `# slots first, then the credentials to seal
[[slot]]
type = "passphrase"
file = "${pass}"
label = "ops"

[[backend]]
id = "db"
type = "db-keystore"
path = "${dir}/ks.db"
dek-file = "${dek}"

[[backend]]
id = "bao"
type = "openbao"
addr = "https://bao.example"
token-file = "${tok}"

[[backend]]
id = "aws"
type = "aws-kms"
region = "eu-west-1"
`,
    );
    const fromToml = `${dir}/a.sealed`;
    const c = await basil(["bundle", "create", fromToml, "--from", plan]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, `wrote sealed bundle to ${fromToml}\n`);
    assert.equal(Deno.statSync(fromToml).mode! & 0o777, 0o600);

    const fromFlags = `${dir}/b.sealed`;
    const f = await basil([
      "bundle",
      "create",
      fromFlags,
      "--slot",
      `passphrase:file=${pass},label=ops`,
      "--backend",
      `id=db,type=db-keystore,path=${dir}/ks.db,dek-file=${dek}`,
      "--backend",
      `id=bao,type=openbao,addr=https://bao.example,token-file=${tok}`,
      "--backend",
      "id=aws,type=aws-kms,region=eu-west-1",
    ]);
    assert.equal(f.code, 0, f.stderr);
    const open = ["--open", `passphrase:file=${pass}`];
    const shown = async (b: string) => {
      const r = await basil(["bundle", "show", b, ...open]);
      assert.equal(r.code, 0, r.stderr);
      // Drop the lines that differ between any two bundles (id, creation time).
      return r.stdout.split("\n").filter((l) => !/^(bundle|created)/.test(l)).join("\n");
    };
    const a = await shown(fromToml);
    assert.match(a, /slot 0: method=passphrase, label=ops/);
    assert.match(
      a,
      /backend aws: kind=aws-kms\nbackend bao: kind=vault-token\nbackend db: kind=db-keystore-dek/,
    );
    assert.equal(a, await shown(fromFlags));
    assert.equal((await basil(["bundle", "verify", fromToml, ...open])).code, 0);

    // --from is exclusive with the flags (usage error, nothing written).
    const both = await basil([
      "bundle",
      "create",
      `${dir}/c.sealed`,
      "--from",
      plan,
      "--slot",
      `passphrase:file=${pass}`,
    ]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--from cannot be combined with --slot or --backend/);

    // Bad plans: the file and the table are named; no value is echoed; nothing is written.
    const cases: [string, RegExp][] = [
      [
        `[[slot]]\ntype = "passphrase"\nfile = "${pass}"\nfiel = "x"\n`,
        /slot\[0\]: unknown field "fiel"/,
      ],
      [`[[slot]]\nfile = "${pass}"\n`, /slot\[0\]: field "type" is required/],
      [`[[slot]]\ntype = "yubikey"\n`, /slot\[0\]: unknown slot type/],
      [`[[backend]]\nid = "aws"\ntype = "aws-kms"\nregion = "x"\n`, /at least one \[\[slot\]\]/],
      [
        `[[slot]]\ntype = "passphrase"\nfile = "${pass}"\n[[backend]]\nid = "db"\ntype = "db-keystore"\npath = "p"\ndek-file = "${dir}/nope"\n`,
        /dek-file .*nope: cannot read/,
      ],
      [`[[slot]]\ntype = "passphrase"\nfile = true\n`, /slot\[0\]: field "file" must be a string/],
      [`slots = []\n`, /unknown key "slots"/],
      [`[[slot]\ntype = "hunter2-secret"\n`, /not valid TOML at line 1/],
    ];
    for (const [text, want] of cases) {
      const bad = w("bad.toml", text);
      const out = `${dir}/bad.sealed`;
      const r = await basil(["bundle", "create", out, "--from", bad]);
      assert.equal(r.code, 1, text);
      assert.match(r.stderr, want, text);
      // Plan errors name the plan file; a credential file's error names that file.
      if (!text.includes("nope")) assert.match(r.stderr, /bad\.toml/, text);
      assert.doesNotMatch(r.stderr, /hunter2/);
      assert.throws(() => Deno.statSync(out), Deno.errors.NotFound, text);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
