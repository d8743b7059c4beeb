/**
 * Fuzz: Vault/OpenBao responses as parsed by the vault backend
 * (lib/backends/vault: kv2.ts, transit.ts, auth.ts through json.ts). A
 * proxy in front of the Vault double (tests/fakes/vault) edits each JSON
 * body the double sends after login: field-level edits (dropped fields,
 * wrong types, odd values) or byte-level edits of the text. Every backend
 * operation then returns a value or throws a `BasilError`; never a stray
 * `TypeError`/`RangeError`, never a hang.
 */

import fc from "fast-check";
import { BasilError } from "../../lib/core/errors.ts";
import { nullLogger } from "../../lib/core/log.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { openVaultBackend } from "../../lib/backends/vault/mod.ts";
import { startConfiguredDouble } from "../fakes/vault/server.ts";
import {
  applyFieldEdits,
  fieldEdits,
  fuzz,
  fuzzRuns,
  mutatedBytes,
  onlyTypedAsync,
} from "../helpers/fuzz.ts";

const enc = new TextEncoder();

Deno.test({
  name: "fuzz: edited Vault responses give a value or a BasilError for every operation",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const double = await startConfiguredDouble();
  /** How the proxy edits the next response bodies (none during login). */
  let edit: ((body: Uint8Array) => Uint8Array) | undefined;
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const res = await fetch(`${double.addr}${url.pathname}${url.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.body === null ? undefined : await req.arrayBuffer(),
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const out = edit && body.length > 0 ? edit(body) : body;
    return new Response(res.status === 204 ? null : new Uint8Array(out), {
      status: res.status,
      headers: { "content-type": "application/json" },
    });
  });
  const backend = await openVaultBackend({
    name: "bao",
    addr: `http://127.0.0.1:${proxy.addr.port}`,
    cred: { type: "VaultToken", token: SecretBytes.copyOf(enc.encode(double.rootToken)) },
    transitMount: "transit",
    jwt: { mount: "jwt", role: "basil", audience: "basil", ttlSecs: 300 },
    graceVersions: 1,
    retries: 0,
    logger: nullLogger,
  });
  try {
    const transit = backend.transit!;
    const kv = backend.kv!;
    await transit.create("fuzzsig", "ed25519");
    await kv.write("secret/data/fuzz/value", enc.encode("v1"));
    const ops: ((n: number) => Promise<unknown>)[] = [
      () => transit.info("fuzzsig"),
      () => transit.publicKey("fuzzsig", "ed25519", 1),
      () => transit.sign("fuzzsig", "ed25519", enc.encode("m"), 1),
      (n) => transit.create(`fuzzk${n}`, "ecdsa-p256"),
      () => transit.rotate("fuzzsig", "ed25519"),
      () => kv.read("secret/data/fuzz/value"),
      () => kv.read("secret/data/fuzz/value", 1),
      () => kv.latestVersion("secret/data/fuzz/value"),
      () => kv.write("secret/data/fuzz/value", enc.encode("v2")),
    ];
    const bodyEdit = fc.oneof(
      fieldEdits.map((edits) => (body: Uint8Array) => {
        try {
          const v = applyFieldEdits(JSON.parse(new TextDecoder().decode(body)), edits);
          return enc.encode(JSON.stringify(v) ?? "");
        } catch {
          return body;
        }
      }),
      fc.nat().map((seed) => (body: Uint8Array) =>
        fc.sample(mutatedBytes([body]), { seed, numRuns: 1 })[0]!
      ),
    );
    let n = 0;
    await fuzz(
      "vault responses",
      fc.asyncProperty(fc.nat(ops.length - 1), bodyEdit, async (i, e) => {
        edit = e;
        try {
          await onlyTypedAsync(() => ops[i]!(n++), [BasilError]);
        } finally {
          edit = undefined;
        }
      }),
      fuzzRuns(150, 0.05),
    );
  } finally {
    backend.close();
    await proxy.shutdown();
    await double.close();
  }
});
