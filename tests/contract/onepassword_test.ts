/**
 * The backend contract suite against the 1Password backend driving the fake
 * `op` (tests/fakes/op), plus what only this backend has: item naming and
 * field lookup, the token staying out of argv, and op's error phrases
 * mapped to opaque errors.
 */

import assert from "node:assert/strict";
import { openOnePasswordBackend } from "../../lib/backends/onepassword/mod.ts";
import { BasilError } from "../../lib/core/errors.ts";
import { installFakeOp } from "../fakes/op/fake_op.ts";
import { backendContract } from "./backend_contract.ts";

const TOKEN = "ops_CANARY_" + crypto.randomUUID().replaceAll("-", "");

backendContract("onepassword", {
  kvPath: (n) => `app/${n}`,
  kvLatestOnly: true,
  kvTextOnly: true,
  signing: [],
  aead: [],
  importTypes: [],
  prune: false,
}, async () => {
  const fake = await installFakeOp({ tokens: [TOKEN], vaults: ["Team Vault"] });
  const backend = openOnePasswordBackend({
    name: "op",
    cred: {
      type: "OnePassword",
      provider_uri: `onepassword+token://${TOKEN}@Team%20Vault`,
      project: "p",
      profile: "prod",
    },
    command: fake.opPath,
  });
  return {
    backend,
    close: async () => {
      backend.close();
      const calls = await fake.calls();
      assert.ok(calls.length > 0);
      for (const c of calls) {
        assert.ok(!c.argv.join(" ").includes(TOKEN), "the token is never in argv");
        assert.equal(c.auth, "token");
      }
      await fake.close();
    },
  };
});

async function withFake(
  fn: (
    fake: Awaited<ReturnType<typeof installFakeOp>>,
    open: (uri: string) => ReturnType<typeof openOnePasswordBackend>,
  ) => Promise<void>,
): Promise<void> {
  const fake = await installFakeOp({ tokens: [TOKEN], accounts: ["me.1password.com"] });
  const opened: ReturnType<typeof openOnePasswordBackend>[] = [];
  try {
    await fn(fake, (uri) => {
      const b = openOnePasswordBackend({
        name: "op",
        cred: { type: "OnePassword", provider_uri: uri, project: "proj", profile: "dev" },
        command: fake.opPath,
      });
      opened.push(b);
      return b;
    });
  } finally {
    for (const b of opened) b.close();
    await fake.close();
  }
}

Deno.test("1password: items are Secure Notes named basil/{project}/{profile}/{path} with §10 fields and tags", async () => {
  await withFake(async (fake, open) => {
    const b = open("onepassword://me.1password.com@");
    assert.equal(await b.kv.write("db/password", new TextEncoder().encode("s3cret")), 1);
    const [item] = await fake.items() as {
      title: string;
      category: string;
      tags: string[];
      vault: { name: string };
      fields: { label: string; type: string; value: string }[];
    }[];
    assert.equal(item!.title, "basil/proj/dev/db/password");
    assert.equal(item!.category, "SECURE_NOTE");
    assert.equal(item!.vault.name, "Private", "the default vault");
    assert.deepEqual(item!.tags, ["automated", "proj"]);
    const byLabel = Object.fromEntries(item!.fields.map((f) => [f.label, f]));
    assert.equal(byLabel.project!.value, "proj");
    assert.equal(byLabel.key!.value, "db/password");
    assert.equal(byLabel.value!.value, "s3cret");
    assert.equal(byLabel.value!.type, "CONCEALED");
    const calls = await fake.calls();
    for (const c of calls) {
      assert.ok(c.argv.includes("--account") && c.argv.includes("me.1password.com"));
      assert.ok(!c.argv.join(" ").includes("s3cret"), "values never in argv");
      assert.ok(!c.env.includes("OP_SERVICE_ACCOUNT_TOKEN"));
    }
  });
});

Deno.test("1password: field lookup: label value, else a concealed field, else id password", async () => {
  await withFake(async (fake, open) => {
    const b = open(`onepassword+token://${TOKEN}@`);
    const put = async (path: string, fields: Record<string, string>[]) => {
      const items = await fake.items();
      items.push({
        id: crypto.randomUUID().replaceAll("-", "").slice(0, 26),
        title: `basil/proj/dev/${path}`,
        version: 4,
        vault: { id: "vprivate", name: "Private" },
        category: "PASSWORD",
        created_at: "2024-01-01T00:00:00Z",
        updated_at: "2024-01-01T00:00:00Z",
        fields,
      });
      await Deno.writeTextFile(`${fake.stateDir}/items.json`, JSON.stringify(items));
    };
    await put("a", [
      { id: "x", type: "CONCEALED", label: "other", value: "concealed" },
      { id: "v", type: "STRING", label: "value", value: "labelled" },
    ]);
    await put("b", [
      { id: "n", type: "STRING", label: "notes", value: "plain" },
      { id: "x", type: "CONCEALED", label: "secret", value: "concealed" },
    ]);
    await put("c", [{ id: "password", type: "STRING", label: "pw", value: "by-id" }]);
    await put("d", [{ id: "n", type: "STRING", label: "notes", value: "plain" }]);
    const text = async (p: string) => {
      const got = await b.kv.read(p);
      return got && { v: new TextDecoder().decode(got.value.expose()), n: got.version };
    };
    assert.deepEqual(await text("a"), { v: "labelled", n: 4 });
    assert.deepEqual(await text("b"), { v: "concealed", n: 4 });
    assert.deepEqual(await text("c"), { v: "by-id", n: 4 });
    await assert.rejects(
      b.kv.read("d"),
      (e) => e instanceof BasilError && e.code === "BACKEND_ERROR",
    );
    assert.equal(await b.kv.read("a", 3), undefined);
    // editing keeps the other fields and moves the version on
    assert.equal(await b.kv.write("b", new TextEncoder().encode("new")), 5);
    assert.deepEqual(await text("b"), { v: "new", n: 5 });
  });
});

Deno.test("1password: op failures are opaque: absent, BACKEND_ERROR or BACKEND_UNAVAILABLE", async () => {
  await withFake(async (fake, open) => {
    const b = open(`onepassword+token://${TOKEN}@`);
    const key = { engine: "kv2", path: "x" } as never;
    assert.equal(await b.exists(key), false, "isn't an item = absent");
    const fails = async (code: string, p: Promise<unknown>) =>
      await assert.rejects(p, (e) => {
        assert.ok(e instanceof BasilError);
        assert.equal(e.code, code);
        assert.doesNotMatch(`${e.message} ${e.detail}`, /ERROR|1password\.com|isn't|Private|dial/);
        return true;
      });
    await fake.configure({ fail: "rate_limited" });
    await fails("BACKEND_UNAVAILABLE", b.exists(key));
    await fake.configure({ fail: "unreachable" });
    await fails("BACKEND_UNAVAILABLE", b.kv.read("x"));
    await fake.configure({ fail: "not_signed_in" });
    await fails("BACKEND_ERROR", b.kv.latestVersion("x"));
    await fake.configure({ fail: null, tokens: ["ops_other"] });
    await fails("BACKEND_ERROR", b.kv.read("x"));
    await fake.configure({ tokens: [TOKEN], vaults: ["Elsewhere"] });
    await fails("BACKEND_ERROR", b.exists(key));
    const noSession = open("onepassword://stranger@Private");
    await fake.configure({ vaults: ["Private"] });
    await fails("BACKEND_ERROR", noSession.kv.read("x"));
    const missing = openOnePasswordBackend({
      name: "op",
      cred: {
        type: "OnePassword",
        provider_uri: "onepassword://Private",
        project: "p",
        profile: "q",
      },
      command: `${fake.dir}/no-such-op`,
    });
    await fails("BACKEND_UNAVAILABLE", missing.kv.read("x"));
  });
});
