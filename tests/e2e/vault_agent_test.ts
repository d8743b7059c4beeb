/**
 * The agent with a `vault` backend, driven through the real socket: the
 * `basil` CLI, the python3-grpcio clients (a generic one and the SPIFFE
 * Workload API one), against the OpenBao double. Every result is checked
 * against the backend itself or an independent tool: values and
 * ciphertexts are read back from the double with its root token,
 * signatures and JWTs are verified by openssl and python3-jwt with the
 * public key the backend holds, certificates by `openssl verify` against
 * the backend's CA.
 *
 * Covered: KV v2 get (with version), set, rotate with a recipe and
 * `missing: generate`; transit new-key, sign/verify (ed25519, ecdsa-p256,
 * rsa-2048), get-public-key, encrypt/decrypt (aes256-gcm96,
 * chacha20-poly1305, envelopes of `vault:vN:` and an empty nonce), rotate
 * with the grace window applied in the backend, BYOK import; issue-cert
 * through a PKI role; X.509-SVIDs from a PKI role with `uri_sans`; MintJwt
 * and JWT-SVIDs signed in transit; a backend 500 answered as an opaque
 * BACKEND_ERROR (decrypt included); the sandbox granting the backend's host
 * only; with an AppRole login, readiness and decrypt while the backend is
 * down and the recovery when it returns on the same port; and the backend
 * down at start (reconcile fails the start, `no-reconcile` serves later).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fromHex, toHex } from "../../lib/core/encoding.ts";
import type { VaultDouble } from "../fakes/vault/server.ts";
import { Fixture, readProc, runAgentToExit, type RunningAgent } from "../helpers/fixture.ts";
import { gated } from "../helpers/peers.ts";
import { PYTHON, pyWorkload } from "../helpers/python.ts";
import { ROOT } from "../helpers/cli.ts";
import {
  appRoleCred,
  appRoleLogin,
  fieldsOf,
  py,
  rootCall,
  run,
  startBasilDouble,
  TD,
  tokenCred,
  vaultBackend,
  vaultKeys,
  vaultPolicy,
} from "./vault_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

/** A running agent on the double, and every CLI output it produced (for the leak check). */
interface VaultAgent {
  readonly d: VaultDouble;
  readonly f: Fixture;
  readonly a: RunningAgent;
  readonly outputs: string[];
  cli(
    args: string[],
    stdin?: Uint8Array,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
}

async function withVaultAgent(
  o: { approle?: boolean; configExtra?: string },
  fn: (v: VaultAgent) => Promise<void>,
): Promise<void> {
  const d = await startBasilDouble();
  let f: Fixture | undefined;
  let a: RunningAgent | undefined;
  try {
    const login = o.approle ? await appRoleLogin(d) : undefined;
    const cred = login ? appRoleCred(login.roleId, login.secretId) : tokenCred(d.rootToken);
    f = await Fixture.create({
      catalog: {
        schemaVersion: 1,
        backends: { bao: vaultBackend(d.addr) },
        keys: vaultKeys("bao"),
      },
      policy: vaultPolicy,
      backendCreds: new Map([["bao", cred]]),
      configExtra: o.configExtra,
    });
    a = await f.start();
    const outputs: string[] = [];
    const fx = f;
    await fn({
      d,
      f,
      a,
      outputs,
      async cli(args, stdin) {
        const r = await fx.cli(args, stdin ? { stdin } : {});
        outputs.push(r.stdout, r.stderr);
        return r;
      },
    });
  } finally {
    if (a) {
      // The double may be stopped by the test: the agent must still stop cleanly.
      const { code, stderr } = await a.stop();
      assert.equal(code, 0, stderr);
    }
    f?.cleanup();
    await d.close();
  }
}

/** The double's transit key document (root token). */
async function transitKey(d: VaultDouble, name: string) {
  return (await rootCall(d, "GET", `transit/keys/${name}`)).data;
}

/** A transit key's latest public key from the double, as openssl / PyJWT read it (PEM, or raw Ed25519). */
async function backendPublicKey(d: VaultDouble, name: string) {
  const k = await transitKey(d, name);
  const text: string = k.keys[String(k.latest_version)].public_key;
  return k.type === "ed25519" ? unb64(text) : enc.encode(text);
}

/** ECDSA raw r‖s → DER for openssl. */
function rsToDer(sig: Uint8Array): Uint8Array {
  const half = sig.length / 2;
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.slice(i);
    if (v[0]! & 0x80) v = new Uint8Array([0, ...v]);
    return [0x02, v.length, ...v];
  };
  const body = [...int(sig.slice(0, half)), ...int(sig.slice(half))];
  return new Uint8Array([0x30, body.length, ...body]);
}

function ed25519Pem(raw: Uint8Array): string {
  const der = new Uint8Array([...fromHex("302a300506032b6570032100"), ...raw]);
  return `-----BEGIN PUBLIC KEY-----\n${b64(der)}\n-----END PUBLIC KEY-----\n`;
}

/** PEM blocks of a file, one string each. */
function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

const hits = (d: VaultDouble, what: string) => d.hits.get(what) ?? 0;

Deno.test(gated([PYTHON, "openssl"], {
  name: "vault agent (VaultToken): KV v2, transit, PKI, SVIDs and MintJwt through the socket",
  async fn(t) {
    // Debug logging: a backend failure's detail is logged at debug level (and
    // every line the agent writes is searched for the token at the end).
    await withVaultAgent({ configExtra: '[logging]\nlevel = "debug"' }, async (v) => {
      const { d, f } = v;

      await t.step("the sandbox lets the agent reach the backend's host, nothing else", () => {
        const argv = dec.decode(readProc(`/proc/${v.a.agentPid}/cmdline`)).split("\0");
        const net = argv.find((x) => x.startsWith("--allow-net="))?.slice(12).split(",");
        // The catalog addr and vault-addr (default http://127.0.0.1:8200), and the socket.
        assert.deepEqual(net?.sort(), [
          `127.0.0.1:${d.port}`,
          "127.0.0.1:8200",
          `unix:${f.socket}`,
        ]);
      });

      await t.step("reconcile created the missing: generate keys in the backend", async () => {
        for (const name of ["sig-ed25519", "sig-p256", "sym-aes", "sym-chacha", "spiffe-jwt"]) {
          assert.equal((await transitKey(d, name)).latest_version, 1, name);
        }
        const kv = await rootCall(d, "GET", "secret/data/app/db-password");
        assert.equal(kv.data.metadata.version, 1);
        assert.match(dec.decode(unb64(kv.data.data.value)), /^[!-~]{24}$/);
        assert.match(v.a.stderr, /"generated absent catalog key".*"app\.db_password"/);
      });

      await t.step("kv2: get, set, get --version, rotate with the recipe", async () => {
        const first = await v.cli(["get", "--key-id", "app.db_password", "--format", "raw"]);
        assert.equal(first.code, 0, first.stderr);
        const stored = await rootCall(d, "GET", "secret/data/app/db-password");
        assert.equal(first.stdout, dec.decode(unb64(stored.data.data.value)));

        for (const [value, version] of [["tok-one", 1], ["tok-two", 2]] as const) {
          const s = await v.cli(
            ["set", "--key-id", "app.api_token", "--value-file", "-"],
            enc.encode(value),
          );
          assert.equal(s.stdout, `version: ${version}\n`, s.stderr);
        }
        const v1 = await rootCall(d, "GET", "secret/data/app/api-token?version=1");
        assert.equal(dec.decode(unb64(v1.data.data.value)), "tok-one", "stored as {value: b64}");
        const latest = await v.cli(["get", "--key-id", "app.api_token"]);
        assert.equal(latest.stdout, `version: 2\nvalue: ${toHex(enc.encode("tok-two"))}\n`);
        const old = await v.cli(["get", "--key-id", "app.api_token", "--version", "1", "--raw"]);
        assert.equal(old.stdout, "tok-one");
        const none = await v.cli(["get", "--key-id", "app.api_token", "--version", "7"]);
        assert.equal(none.code, 1);
        assert.doesNotMatch(none.stderr, /secret\/data|vault/i, "no backend path in the error");

        const r = await v.cli(["rotate", "--key-id", "app.db_password"]);
        assert.equal(r.stdout, "version: 2\n", r.stderr);
        const rotated = await v.cli(["get", "--key-id", "app.db_password", "--format", "raw"]);
        assert.match(rotated.stdout, /^[!-~]{24}$/);
        assert.notEqual(rotated.stdout, first.stdout);
        const back = await v.cli(
          ["get", "--key-id", "app.db_password", "--version", "1", "--format", "raw"],
        );
        assert.equal(back.stdout, first.stdout);
      });

      await t.step(
        "transit: new-key, then sign/verify checked by openssl with the backend's key",
        async () => {
          const nk = await v.cli(["new-key", "--key-id", "sig.rsa_2048"]);
          assert.equal(nk.code, 0, nk.stderr);
          assert.equal((await transitKey(d, "sig-rsa")).type, "rsa-2048");
          // NewKey is idempotent: the existing key answers, no new version is made.
          const again = await v.cli(["new-key", "--key-id", "sig.rsa_2048"]);
          assert.equal(again.stdout, nk.stdout, again.stderr);
          assert.equal((await transitKey(d, "sig-rsa")).latest_version, 1);

          const msg = enc.encode(`release v1.0.0 ${crypto.randomUUID()}`);
          Deno.writeFileSync(`${f.dir}/msg`, msg);
          const cases = [
            ["sig.ed25519", "sig-ed25519", 64],
            ["sig.ecdsa_p256", "sig-p256", 64],
            ["sig.rsa_2048", "sig-rsa", 256],
          ] as const;
          for (const [id, name, len] of cases) {
            const before = hits(d, `POST transit/sign/${name}`);
            const s = await v.cli(["sign", "--key-id", id, "--message-file", `${f.dir}/msg`]);
            assert.equal(s.code, 0, s.stderr);
            assert.equal(hits(d, `POST transit/sign/${name}`), before + 1, "signed in transit");
            const sig = fromHex(s.stdout.trim());
            assert.equal(sig.length, len, id);
            const ok = await v.cli(
              [
                "verify",
                "--key-id",
                id,
                "--signature",
                toHex(sig),
                "--message-file",
                `${f.dir}/msg`,
              ],
            );
            assert.equal(ok.stdout, "true\n", `${id}: ${ok.stderr}`);
            const bad = await v.cli(["verify", "--key-id", id, "--signature", toHex(sig), "other"]);
            assert.deepEqual([bad.code, bad.stdout], [1, "false\n"], id);

            const pub = await backendPublicKey(d, name);
            Deno.writeTextFileSync(
              `${f.dir}/pub.pem`,
              id === "sig.ed25519" ? ed25519Pem(pub) : dec.decode(pub),
            );
            Deno.writeFileSync(`${f.dir}/sig`, id === "sig.ecdsa_p256" ? rsToDer(sig) : sig);
            const o = id === "sig.ed25519"
              ? await run("openssl", [
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                `${f.dir}/pub.pem`,
                "-rawin",
                "-in",
                `${f.dir}/msg`,
                "-sigfile",
                `${f.dir}/sig`,
              ])
              : await run("openssl", [
                "dgst",
                "-sha256",
                "-verify",
                `${f.dir}/pub.pem`,
                "-signature",
                `${f.dir}/sig`,
                `${f.dir}/msg`,
              ]);
            assert.equal(o.code, 0, `${id}: ${o.out}${o.err}`);
          }
        },
      );

      await t.step("get-public-key is the backend's key, per version", async () => {
        const [ed, p256, p256v1] = await py(f.socket, [
          {
            method: "basil.broker.v1.SigningService/GetPublicKey",
            request: { key_id: "sig.ed25519" },
          },
          {
            method: "basil.broker.v1.SigningService/GetPublicKey",
            request: { key_id: "sig.ecdsa_p256" },
          },
          {
            method: "basil.broker.v1.SigningService/GetPublicKey",
            request: { key_id: "sig.ecdsa_p256", version: 1 },
          },
        ]);
        assert.equal(ed!.code, "OK", JSON.stringify(ed));
        assert.deepEqual(
          unb64(ed!.responses[0]!.public_key),
          await backendPublicKey(d, "sig-ed25519"),
        );
        const pem = dec.decode(unb64(p256!.responses[0]!.public_key));
        const spki = (p: string) => p.replace(/-----[^-]+-----|\s/g, "");
        assert.equal(spki(pem), spki(dec.decode(await backendPublicKey(d, "sig-p256"))));
        assert.equal(p256!.responses[0]!.version, 1);
        assert.deepEqual(p256v1!.responses[0], p256!.responses[0]);
      });

      await t.step(
        "MintJwt signs in transit: python3-jwt verifies with the backend's key",
        async () => {
          for (
            const [id, name, alg] of [["sig.ecdsa_p256", "sig-p256", "ES256"], [
              "sig.ed25519",
              "sig-ed25519",
              "EdDSA",
            ]] as const
          ) {
            const before = hits(d, `POST transit/sign/${name}`);
            const m = await v.cli(
              ["mint-jwt", "--key-id", id, "--sub", "deploy-bot", "--ttl-secs", "120"],
            );
            assert.equal(m.code, 0, m.stderr);
            assert.equal(hits(d, `POST transit/sign/${name}`), before + 1);
            const token = m.stdout.split("\n")[0]!;
            Deno.writeFileSync(`${f.dir}/jwt.pub`, await backendPublicKey(d, name));
            const p = await run(PYTHON, [
              `${ROOT}/tests/fixtures/py/jwt_verify.py`,
              alg,
              `${f.dir}/jwt.pub`,
              token,
            ]);
            assert.equal(p.code, 0, `${alg}: ${p.err}`);
            const { claims, header } = JSON.parse(p.out);
            assert.equal(header.alg, alg);
            assert.deepEqual([claims.iss, claims.sub, claims.exp - claims.iat], [
              id,
              "deploy-bot",
              120,
            ]);
          }
        },
      );

      await t.step(
        "encrypt/decrypt: vault:vN: envelopes with an empty nonce, opened by the backend",
        async () => {
          for (
            const [id, name, alg] of [["sym.aes", "sym-aes", "aes256-gcm"], [
              "sym.chacha",
              "sym-chacha",
              "chacha20-poly1305",
            ]] as const
          ) {
            const e = await v.cli([
              "encrypt",
              "--key-id",
              id,
              "--algorithm",
              alg,
              "--aad-hex",
              "0102",
              "backup-2026-07-07.tar",
            ]);
            assert.equal(e.code, 0, e.stderr);
            const env = fieldsOf(e.stdout);
            assert.deepEqual([env.algorithm, env.version, env.nonce], [alg, "1", ""]);
            // The envelope is transit's own ciphertext: the backend opens it.
            const opened = await rootCall(d, "POST", `transit/decrypt/${name}`, {
              ciphertext: `vault:v1:${b64(fromHex(env.ciphertext!))}`,
              associated_data: b64(new Uint8Array([1, 2])),
            });
            assert.equal(dec.decode(unb64(opened.data.plaintext)), "backup-2026-07-07.tar");

            const args = [
              "decrypt",
              "--key-id",
              id,
              "--algorithm",
              alg,
              "--version",
              "1",
              "--ciphertext",
              env.ciphertext!,
            ];
            const d1 = await v.cli([
              ...args,
              "--nonce",
              "",
              "--aad-hex",
              "0102",
              "--format",
              "raw",
            ]);
            assert.equal(d1.stdout, "backup-2026-07-07.tar", d1.stderr);
            // Wrong AAD, a nonce where transit has none, a flipped byte: one opaque answer.
            const flipped = fromHex(env.ciphertext!);
            flipped[flipped.length - 1]! ^= 1;
            const failures = [
              [...args, "--nonce", "", "--aad-hex", "0103"],
              [...args, "--nonce", "00".repeat(12), "--aad-hex", "0102"],
              [
                ...args.slice(0, -1),
                toHex(flipped),
                "--nonce",
                "",
                "--aad-hex",
                "0102",
              ],
            ];
            for (const bad of failures) {
              const r = await v.cli(bad);
              assert.equal(r.code, 1);
              assert.match(r.stderr, /\[InvalidArgument\/DECRYPT_FAILED\]: decrypt failed$/m);
            }
          }
        },
      );

      await t.step("rotate: the grace window is applied in the backend too", async () => {
        const enc1 = fieldsOf((await v.cli(["encrypt", "--key-id", "sym.aes", "p1"])).stdout);
        const sig1 = (await v.cli(["sign", "--key-id", "sig.ed25519", "m"])).stdout.trim();
        const decryptArgs = (e: Record<string, string>) => [
          "decrypt",
          "--key-id",
          "sym.aes",
          "--version",
          e.version!,
          "--nonce",
          "",
          "--ciphertext",
          e.ciphertext!,
          "--format",
          "raw",
        ];
        assert.equal((await v.cli(["rotate", "--key-id", "sym.aes"])).stdout, "version: 2\n");
        assert.equal((await v.cli(["rotate", "--key-id", "sig.ed25519"])).stdout, "version: 2\n");
        // grace-versions = 1: version 1 still opens and verifies.
        assert.equal((await v.cli(decryptArgs(enc1))).stdout, "p1");
        const still = await v.cli(["verify", "--key-id", "sig.ed25519", "--signature", sig1, "m"]);
        assert.equal(still.stdout, "true\n");
        const enc2 = fieldsOf((await v.cli(["encrypt", "--key-id", "sym.aes", "p2"])).stdout);
        assert.equal(enc2.version, "2");
        assert.equal((await transitKey(d, "sym-aes")).min_decryption_version, 1);

        assert.equal((await v.cli(["rotate", "--key-id", "sym.aes"])).stdout, "version: 3\n");
        assert.equal((await v.cli(["rotate", "--key-id", "sig.ed25519"])).stdout, "version: 3\n");
        assert.equal((await transitKey(d, "sym-aes")).min_decryption_version, 2);
        assert.equal((await transitKey(d, "sig-ed25519")).min_decryption_version, 2);
        const gone = await v.cli(decryptArgs(enc1));
        assert.match(gone.stderr, /\[InvalidArgument\/DECRYPT_FAILED\]: decrypt failed$/m);
        // The backend itself refuses version 1 now, not only the broker.
        const res = await fetch(`${d.addr}/v1/transit/decrypt/sym-aes`, {
          method: "POST",
          headers: { "X-Vault-Token": d.rootToken },
          body: JSON.stringify({ ciphertext: `vault:v1:${b64(fromHex(enc1.ciphertext!))}` }),
        });
        assert.equal(res.status, 400, await res.text());
        const old = await v.cli(["verify", "--key-id", "sig.ed25519", "--signature", sig1, "m"]);
        assert.equal(old.stdout, "false\n");
        assert.equal((await v.cli(decryptArgs(enc2))).stdout, "p2");
      });

      await t.step(
        "import (BYOK): RFC 8032 TEST 1 through the backend's wrapping key",
        async () => {
          const seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
          const pub = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
          const sig =
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
          Deno.writeFileSync(`${f.dir}/seed`, fromHex(seed), { mode: 0o600 });
          const imp = await v.cli(
            ["import", "--key-id", "sig.imported", "--seed-file", `${f.dir}/seed`, "--check"],
          );
          assert.equal(
            imp.stdout,
            `key_id: sig.imported\npublic_key: ${pub}\ncheck: ok\n`,
            imp.stderr,
          );
          assert.equal(hits(d, "GET transit/wrapping_key"), 1);
          assert.equal(hits(d, "POST transit/keys/sig-imported/import"), 1);
          assert.equal(toHex(await backendPublicKey(d, "sig-imported")), pub);
          Deno.writeFileSync(`${f.dir}/empty`, new Uint8Array());
          const s = await v.cli([
            "sign",
            "--key-id",
            "sig.imported",
            "--message-file",
            `${f.dir}/empty`,
          ]);
          assert.equal(s.stdout.trim(), sig);
        },
      );

      await t.step(
        "issue-cert through the PKI role: openssl verifies against the backend CA",
        async () => {
          // pki/ca/pem is unauthenticated in OpenBao.
          const caRes = await fetch(`${d.addr}/v1/pki/ca/pem`);
          assert.equal(caRes.status, 200);
          Deno.writeTextFileSync(`${f.dir}/ca.pem`, await caRes.text());
          const r = await v.cli([
            "issue-cert",
            "--key-id",
            "tls.ca",
            "--common-name",
            "web.example.org",
            "--dns-san",
            "web.example.org",
            "--ip-san",
            "127.0.0.1",
            "--ttl-secs",
            "3600",
            "--cert-file",
            `${f.dir}/chain.pem`,
            "--key-file",
            `${f.dir}/leaf.key`,
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(hits(d, "POST pki/issue/web"), 1);
          const [leaf, ...chain] = pemBlocks(Deno.readTextFileSync(`${f.dir}/chain.pem`));
          assert.equal(chain.length, 1, "the CA chain follows the leaf");
          Deno.writeTextFileSync(`${f.dir}/leaf.pem`, leaf!);
          const ok = await run("openssl", [
            "verify",
            "-CAfile",
            `${f.dir}/ca.pem`,
            `${f.dir}/leaf.pem`,
          ]);
          assert.equal(ok.code, 0, ok.out + ok.err);
          const text =
            (await run("openssl", ["x509", "-noout", "-text", "-in", `${f.dir}/leaf.pem`]))
              .out;
          assert.match(text, /DNS:web\.example\.org/);
          assert.match(text, /IP Address:127\.0\.0\.1/);
          const keyPub = await run("openssl", ["pkey", "-in", `${f.dir}/leaf.key`, "-pubout"]);
          const certPub = await run("openssl", [
            "x509",
            "-in",
            `${f.dir}/leaf.pem`,
            "-pubkey",
            "-noout",
          ]);
          assert.equal(keyPub.out, certPub.out, "the key matches the leaf");
          // A name the role refuses: an opaque backend error, not the role's text.
          const refused = await v.cli([
            "issue-cert",
            "--key-id",
            "tls.ca",
            "--common-name",
            "evil.example.com",
            "--ttl-secs",
            "60",
          ]);
          assert.equal(refused.code, 1);
          assert.match(refused.stderr, /\[Internal\/BACKEND_ERROR\]: backend operation failed$/m);
          assert.doesNotMatch(refused.stderr, /not allowed|role/);
        },
      );

      await t.step(
        "X.509-SVID over the Workload API: issued by the PKI role with uri_sans",
        async () => {
          const out = `${f.dir}/svid`;
          Deno.mkdirSync(out);
          const before = hits(d, "POST pki/issue/spiffe");
          const w = await pyWorkload(f.socket, ["x509", out]);
          assert.equal(w.code, "OK", JSON.stringify(w));
          assert.deepEqual(w.responses, [{
            spiffe_id: `spiffe://${TD}/app`,
            svids: 1,
            bundle_certs: 1,
          }]);
          assert.ok(hits(d, "POST pki/issue/spiffe") > before, "issued by the backend");
          const ok = await run("openssl", [
            "verify",
            "-CAfile",
            `${out}/bundle.pem`,
            `${out}/svid.pem`,
          ]);
          assert.equal(ok.code, 0, ok.out + ok.err);
          const bundle = Deno.readTextFileSync(`${out}/bundle.pem`).replace(/\s/g, "");
          const ca = (await (await fetch(`${d.addr}/v1/pki/ca/pem`)).text()).replace(/\s/g, "");
          assert.equal(bundle, ca, "the bundle is the backend's CA chain");
          const text =
            (await run("openssl", ["x509", "-noout", "-text", "-in", `${out}/svid.pem`])).out;
          assert.equal(text.match(/URI:spiffe:\/\//g)?.length, 1);
          assert.match(text, /URI:spiffe:\/\/example\.org\/app/);
        },
      );

      await t.step(
        "JWT-SVID signed in place by the transit key; validated by the agent",
        async () => {
          const before = hits(d, "POST transit/sign/spiffe-jwt");
          const w = await pyWorkload(f.socket, ["jwt", "payments"]);
          assert.equal(w.code, "OK", JSON.stringify(w));
          const [svid] = w.svids as { spiffe_id: string; svid: string }[];
          assert.equal(svid!.spiffe_id, `spiffe://${TD}/app`);
          assert.equal(hits(d, "POST transit/sign/spiffe-jwt"), before + 1);
          Deno.writeFileSync(`${f.dir}/svid.pub`, await backendPublicKey(d, "spiffe-jwt"));
          const p = await run(PYTHON, [
            `${ROOT}/tests/fixtures/py/jwt_verify_aud.py`,
            "ES256",
            `${f.dir}/svid.pub`,
            svid!.svid,
            "payments",
          ]);
          assert.equal(p.code, 0, p.err);
          const { claims } = JSON.parse(p.out);
          assert.deepEqual([claims.iss, claims.sub, claims.aud], [
            `spiffe://${TD}`,
            `spiffe://${TD}/app`,
            "payments",
          ]);
          const val = await pyWorkload(f.socket, ["validate", "payments", svid!.svid]);
          assert.equal(val.spiffe_id, `spiffe://${TD}/app`, JSON.stringify(val));
        },
      );

      await t.step(
        "a backend 500: opaque BACKEND_ERROR to the caller, the detail in the log",
        async () => {
          const e = fieldsOf(
            (await v.cli([
              "encrypt",
              "--key-id",
              "sym.chacha",
              "--algorithm",
              "chacha20-poly1305",
              "x",
            ])).stdout,
          );
          d.faults.status = 500;
          try {
            const answers = [
              await v.cli(["get", "--key-id", "app.api_token"]),
              await v.cli(["sign", "--key-id", "sig.ed25519", "m"]),
              await v.cli(["encrypt", "--key-id", "sym.aes", "x"]),
              // A backend failure is not a decrypt answer: it passes through DECRYPT_FAILED.
              await v.cli([
                "decrypt",
                "--key-id",
                "sym.chacha",
                "--algorithm",
                "chacha20-poly1305",
                "--version",
                e.version!,
                "--nonce",
                "",
                "--ciphertext",
                e.ciphertext!,
              ]),
            ];
            for (const r of answers) {
              assert.equal(r.code, 1);
              assert.match(r.stderr, /\[Internal\/BACKEND_ERROR\]: backend operation failed$/m);
              assert.doesNotMatch(r.stderr, /injected|HTTP 500|vault/);
            }
            await v.a.waitForStderr(
              (s) => s.includes("injected 500"),
              "logging the backend detail",
            );
          } finally {
            d.faults.status = undefined;
          }
        },
      );

      await t.step("no token in any answer, log or audit record", () => {
        const hay = [...v.outputs, v.a.stderr, Deno.readTextFileSync(f.audit)].join("\n");
        assert.ok(!hay.includes(d.rootToken), "the root token leaked");
      });
    });
  },
}));

/** Polls `basil ready --json` until it reports `reason` (an event the agent reaches by itself). */
async function untilReady(v: VaultAgent, reason: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await v.cli(["ready", "--json"]);
    const json = JSON.parse(r.stdout);
    if (json.reason === reason) return { code: r.code, json };
    if (Date.now() > deadline) throw new Error(`readiness never became ${reason}: ${r.stdout}`);
  }
}

Deno.test(gated([PYTHON], {
  name:
    "vault agent (VaultAppRole): backend down is BACKEND_UNREACHABLE / UNAVAILABLE, then recovers",
  async fn() {
    await withVaultAgent({ approle: true }, async (v) => {
      const { d, f } = v;
      assert.equal(d.auth.stats.logins, 1, "logged in once at start");
      const up = await untilReady(v, "ready");
      assert.equal(up.code, 0);
      assert.equal(up.json.ready, true);
      const e = fieldsOf((await v.cli(["encrypt", "--key-id", "sym.aes", "kept"])).stdout);
      const decrypt = {
        method: "basil.broker.v1.AeadService/Decrypt",
        request: {
          key_id: "sym.aes",
          envelope: {
            alg: "AEAD_ALGORITHM_AES_256_GCM",
            key_version: 1,
            ciphertext: b64(fromHex(e.ciphertext!)),
          },
        },
      };

      await d.stop();
      const down = await untilReady(v, "backend_unreachable");
      assert.equal(down.code, 1);
      assert.equal(down.json.ready, false);
      const [dd, gg] = await py(f.socket, [decrypt, {
        method: "basil.broker.v1.SecretService/GetSecret",
        request: { secret_id: "app.db_password" },
      }]);
      for (const r of [dd!, gg!]) {
        assert.deepEqual([r.code, r.reason, r.details], [
          "UNAVAILABLE",
          "BACKEND_UNAVAILABLE",
          "backend unavailable",
        ], JSON.stringify(r));
      }
      const cli = await v.cli([
        "decrypt",
        "--key-id",
        "sym.aes",
        "--version",
        "1",
        "--nonce",
        "",
        "--ciphertext",
        e.ciphertext!,
      ]);
      assert.match(cli.stderr, /\[Unavailable\/BACKEND_UNAVAILABLE\]: backend unavailable$/m);

      d.restart();
      const back = await untilReady(v, "ready");
      assert.equal(back.code, 0);
      const [again] = await py(f.socket, [decrypt]);
      assert.equal(again!.code, "OK", JSON.stringify(again));
      assert.equal(dec.decode(unb64(again!.responses[0]!.plaintext)), "kept");
      const hay = [...v.outputs, v.a.stderr, Deno.readTextFileSync(f.audit)].join("\n");
      for (const [id, tok] of d.auth.tokens) {
        if (!tok.policies.includes("root")) assert.ok(!hay.includes(id), "an AppRole token leaked");
      }
    });
  },
}));

Deno.test("vault agent: backend down at start stops reconcile; with no-reconcile it serves once the backend is back", async () => {
  const d = await startBasilDouble();
  const login = await appRoleLogin(d);
  const f = await Fixture.create({
    catalog: { schemaVersion: 1, backends: { bao: vaultBackend(d.addr) }, keys: vaultKeys("bao") },
    policy: vaultPolicy,
    backendCreds: new Map([["bao", appRoleCred(login.roleId, login.secretId)]]),
  });
  try {
    await d.stop();
    // Reconcile never reads a failed probe as "absent": the start fails, naming the keys.
    const failed = await runAgentToExit(f);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /"vault backend unreachable at start; will log in on first use"/);
    assert.match(
      failed.stderr,
      /basil agent: reconcile failed for: app\.db_password \(backend unavailable\), .*tls\.ca \(backend unavailable\)/,
    );
    assert.ok(!failed.stderr.includes(login.secretId), "no secret_id in the log");
    assert.equal(d.auth.stats.logins, 0);

    // Without reconcile the agent starts, unready, and logs in when the backend returns.
    f.writeConfig({ configExtra: "no-reconcile = true" });
    const a = await f.start();
    try {
      const ready = async () => {
        const r = await f.cli(["ready", "--json"]);
        return { code: r.code, json: JSON.parse(r.stdout) };
      };
      const down = await ready();
      assert.deepEqual([down.code, down.json.reason], [1, "backend_unreachable"]);
      d.restart();
      for (let r = await ready(); r.json.reason !== "ready"; r = await ready()) {
        assert.equal(r.json.reason, "backend_unreachable");
      }
      assert.equal(d.auth.stats.logins, 1, "logged in on first use");
      const s = await f.cli(["set", "--key-id", "app.api_token", "--value-file", "-"], {
        stdin: "late",
      });
      assert.equal(s.stdout, "version: 1\n", s.stderr);
    } finally {
      const { code, stderr } = await a.stop();
      assert.equal(code, 0, stderr);
    }
  } finally {
    f.cleanup();
    await d.close();
  }
});
