/**
 * NatsService over the real socket and CLI, against real peers: Debian's
 * nats-server 2.9 in operator mode (memory resolver preloaded with the
 * operator and account JWTs Basil minted) accepts a user whose `.creds`
 * Basil issued and enforces its permissions; Debian's Go nats-io/jwt/v2
 * decodes and validates the operator → account → user chain (and the jti);
 * xkv1 boxes open both ways with npm @nats-io/nkeys xkeys. Plus every
 * ValidateNatsJwt reason, the role chain, denials, and a seeded mutation
 * loop over malformed JWTs and claims.
 */

import assert from "node:assert/strict";
import { createCurve, createUser } from "@nats-io/nkeys";
import { connect, credsAuthenticator } from "nats";
import { fromUtf8, toBase64Url, utf8 } from "../../lib/core/encoding.ts";
import { assembleNatsJwt, natsJti, natsSigningInput } from "../../lib/nats/jwt.ts";
import { encodePublicNkey } from "../../lib/nats/nkey.ts";
import type { NkeyRole } from "../../lib/nats/nkey.ts";
import {
  MintingService,
  NatsJtiMode,
  NatsJwtType,
  NatsJwtValidationReason,
  NatsService,
  SigningService,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { ROOT } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";
import { gated } from "../helpers/peers.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

const nkey = (path: string, role: string, description: string) => ({
  class: "asymmetric",
  keyType: "ed25519-nkey",
  backend: "db",
  path,
  writable: true,
  missing: "generate",
  labels: [`nats_type=${role}`],
  description,
});

function catalog(): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519-nkey"],
      },
    },
    keys: {
      "nats.operator": nkey("nats/operator", "O", "Operator identity"),
      "nats.account": nkey("nats/account", "A", "Account identity"),
      "nats.account_signer": nkey("nats/account-signer", "A", "Account signing key"),
      "nats.user_key": nkey("nats/user-key", "U", "A user key (not an issuer)"),
      "nats.other_account": nkey("nats/other-account", "A", "Not granted"),
      "nats.xkey": {
        class: "sealing",
        keyType: "x25519",
        backend: "db",
        path: "nats/xkey",
        publicPath: "nats/xkey-pub",
        writable: true,
        missing: "warn",
        description: "Curve key for xkv1 boxes",
      },
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    roles: {
      nats_admin: [
        "mint",
        "sign_nats_jwt",
        "validate_nats_jwt",
        "get_public_key",
        "encrypt_nats_curve",
        "decrypt_nats_curve",
        "new_key",
        "sign",
      ],
    },
    rules: [{
      id: "nats-admin",
      subjects: ["app"],
      action: ["role:nats_admin"],
      target: [
        "nats.operator",
        "nats.account",
        "nats.account_signer",
        "nats.user_key",
        "nats.xkey",
      ],
    }],
  };
}

const NEEDS = ["nats-server", "go"];

async function publicNkey(socket: string, keyId: string, role: NkeyRole): Promise<string> {
  const r = await rawCall(socket, SigningService.method.getPublicKey, { keyId });
  assert.equal(r.code, "OK", show(r));
  return encodePublicNkey(role, r.message!.publicKey);
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(fromUtf8(Uint8Array.from(
    atob(
      jwt.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"),
    ),
    (c) => c.charCodeAt(0),
  )));
}

/** JSON of a call outcome (bigints as strings), for assertion messages. */
function show(x: unknown): string {
  return JSON.stringify(x, (_, v) => typeof v === "bigint" ? v.toString() : v);
}

let goBinary: string | undefined;

async function goChain(args: string[]): Promise<{ code: number; out: string }> {
  if (!goBinary) {
    const dir = await Deno.makeTempDir({ prefix: "basil-go-nats-" });
    Deno.mkdirSync(`${dir}/src`, { recursive: true });
    Deno.symlinkSync(`${ROOT}/tests/fixtures/go/nats_chain`, `${dir}/src/natschain`);
    const b = await new Deno.Command("go", {
      args: ["build", "-o", `${dir}/nats_chain`, "natschain"],
      env: { GO111MODULE: "off", GOPATH: `${dir}:/usr/share/gocode`, GOCACHE: `${dir}/cache` },
    }).output();
    assert.equal(b.code, 0, new TextDecoder().decode(b.stderr));
    goBinary = `${dir}/nats_chain`;
  }
  const o = await new Deno.Command(goBinary, { args }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr),
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts nats-server and resolves once it logs "Server is ready". */
async function startNatsServer(conf: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("nats-server", {
    args: ["-c", conf],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  while (!log.includes("Server is ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`nats-server exited: ${log}`);
    log += value;
  }
  // Keep draining so the server never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return child;
}

/** A small seeded PRNG (mulberry32), so a failing mutation is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test(gated(NEEDS, {
  name: "NATS: Basil-minted operator/account/user JWTs work with nats-server and Go jwt/v2",
  async fn(t) {
    const f = await Fixture.create({ catalog: catalog(), policy });
    const agent = await f.start();
    try {
      const s = f.socket;
      const opPub = await publicNkey(s, "nats.operator", "O");
      const accPub = await publicNkey(s, "nats.account", "A");
      const signerPub = await publicNkey(s, "nats.account_signer", "A");

      const op = await rawCall(s, NatsService.method.mintNatsOperator, {
        keyId: "nats.operator",
        name: "basil-operator",
      });
      assert.equal(op.code, "OK", show(op));
      const opJwt = op.message!.token;
      assert.equal(claimsOf(opJwt).iss, opPub);
      assert.equal(claimsOf(opJwt).sub, opPub);
      assert.equal(op.message!.expiresAt, undefined);

      const acc = await rawCall(s, NatsService.method.mintNatsAccount, {
        keyId: "nats.operator",
        subjectAccountNkey: accPub,
        name: "app",
        signingKeys: [signerPub],
      });
      assert.equal(acc.code, "OK", show(acc));
      const accJwt = acc.message!.token;
      const accNats = claimsOf(accJwt).nats as Record<string, unknown>;
      assert.equal((accNats.limits as Record<string, unknown>).conn, -1);

      const user = createUser();
      const userPub = user.getPublicKey();
      const minted = await f.cli([
        "mint-nats-user",
        "--key-id",
        "nats.account_signer",
        "--user-nkey",
        userPub,
        "--issuer-account",
        accPub,
        "--ttl-secs",
        "600",
        "--pub-allow",
        "allowed.>",
        "--pub-allow",
        "_INBOX.>",
        "--sub-allow",
        "allowed.>",
        "--sub-allow",
        "_INBOX.>",
      ]);
      assert.equal(minted.code, 0, minted.stderr);
      const userJwt = minted.stdout.trim();
      const uc = claimsOf(userJwt);
      assert.equal(uc.iss, signerPub);
      assert.equal(uc.sub, userPub);
      assert.equal((uc.nats as Record<string, unknown>).issuer_account, accPub);
      assert.equal(uc.jti, natsJti(uc));

      await t.step("issue-nats-creds writes the nsc layout with mode 0600", async () => {
        Deno.writeTextFileSync(`${f.dir}/user.jwt`, `${userJwt}\n`);
        Deno.writeFileSync(`${f.dir}/user.seed`, user.getSeed(), { mode: 0o600 });
        const w = await f.cli([
          "issue-nats-creds",
          "--jwt-file",
          `${f.dir}/user.jwt`,
          "--seed-file",
          `${f.dir}/user.seed`,
          "--out-file",
          `${f.dir}/user.creds`,
        ]);
        assert.equal(w.code, 0, w.stderr);
        assert.equal(Deno.statSync(`${f.dir}/user.creds`).mode! & 0o777, 0o600);
        const creds = Deno.readTextFileSync(`${f.dir}/user.creds`);
        const seed = fromUtf8(user.getSeed());
        assert.equal(
          creds,
          `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
            "************************* IMPORTANT *************************\n" +
            "NKEY Seed printed below can be used to sign and prove identity.\n" +
            "NKEYs are sensitive and should be treated as secrets.\n\n" +
            `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n` +
            "*************************************************************\n",
        );
        // A seed that is not the JWT subject's is refused.
        Deno.writeFileSync(`${f.dir}/other.seed`, createUser().getSeed(), { mode: 0o600 });
        const bad = await f.cli([
          "issue-nats-creds",
          "--jwt-file",
          `${f.dir}/user.jwt`,
          "--seed-file",
          `${f.dir}/other.seed`,
          "--out-file",
          `${f.dir}/other.creds`,
        ]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /does not belong/);
      });

      await t.step("Go nats-io/jwt/v2 validates the chain and the jti", async () => {
        Deno.writeTextFileSync(`${f.dir}/op.jwt`, opJwt);
        Deno.writeTextFileSync(`${f.dir}/acc.jwt`, accJwt);
        const ok = await goChain([
          "chain",
          `${f.dir}/op.jwt`,
          `${f.dir}/acc.jwt`,
          `${f.dir}/user.jwt`,
        ]);
        assert.equal(ok.code, 0, ok.out);
        assert.match(ok.out, new RegExp(`chain ok ${opPub} ${accPub} ${userPub}`));
        const parts = userJwt.split(".");
        const payload = claimsOf(userJwt);
        (payload.nats as Record<string, unknown>).pub = { allow: [">"] };
        const forged = [
          parts[0],
          btoa(JSON.stringify(payload)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
          parts[2],
        ].join(".");
        Deno.writeTextFileSync(`${f.dir}/forged.jwt`, forged);
        const bad = await goChain(["decode", `${f.dir}/forged.jwt`]);
        assert.equal(bad.code, 1, bad.out);
      });

      await t.step("nats-server accepts the creds and enforces the permissions", async () => {
        const port = freePort();
        Deno.writeTextFileSync(`${f.dir}/op.jwt`, opJwt);
        Deno.writeTextFileSync(
          `${f.dir}/nats.conf`,
          [
            `listen: 127.0.0.1:${port}`,
            `operator: ${JSON.stringify(`${f.dir}/op.jwt`)}`,
            "resolver: MEMORY",
            `resolver_preload: { ${accPub}: ${JSON.stringify(accJwt)} }`,
          ].join("\n"),
        );
        const server = await startNatsServer(`${f.dir}/nats.conf`);
        try {
          const nc = await connect({
            servers: `127.0.0.1:${port}`,
            authenticator: credsAuthenticator(Deno.readFileSync(`${f.dir}/user.creds`)),
          });
          // The server reports a violation asynchronously, as a status event.
          const violation = (async () => {
            for await (const st of nc.status()) {
              if (st.type === "error") return String(st.data);
            }
            return "closed without an error";
          })();
          const sub = nc.subscribe("allowed.greeting", { max: 1 });
          nc.publish("allowed.greeting", utf8("hello"));
          for await (const m of sub) assert.equal(fromUtf8(m.data), "hello");
          nc.publish("denied.greeting", utf8("nope"));
          await nc.flush();
          assert.match(await violation, /permission/i);
          await nc.close();
          // An unsigned user (a fresh NKey, no Basil JWT) is refused. Spoken over a plain
          // socket: nats.js leaves its socket to raise ECONNRESET after a refused connect.
          const stranger = createUser();
          const answer = await rawNatsConnect(
            port,
            forgeUserJwt(stranger.getPublicKey(), accPub),
            (nonce) => stranger.sign(nonce),
          );
          assert.match(answer, /^-ERR 'Authorization Violation'/m, answer);
        } finally {
          server.kill("SIGTERM");
          await server.status;
        }
      });

      await t.step("ValidateNatsJwt: every reason", async () => {
        const validate = (jwt: string, signers: { keyId?: string; pub?: string }[], type = 0) =>
          rawCall(s, NatsService.method.validateNatsJwt, {
            jwt,
            allowedSigners: signers.map((x) => ({
              signer: x.keyId
                ? { case: "keyId" as const, value: x.keyId }
                : { case: "natsPublicKey" as const, value: x.pub! },
            })),
            expectedType: type,
          });
        const ok = await validate(userJwt, [{ keyId: "nats.account_signer" }], NatsJwtType.USER);
        assert.equal(ok.code, "OK", show(ok));
        assert.equal(ok.message!.valid, true);
        assert.equal(ok.message!.reason, NatsJwtValidationReason.VALID);
        assert.equal(ok.message!.matchedSignerKeyId, "nats.account_signer");
        assert.equal(ok.message!.subject, userPub);
        assert.equal(ok.message!.jwtType, NatsJwtType.USER);
        assert.equal(ok.message!.expiresAtUnix - ok.message!.issuedAtUnix, 600n);
        const reason = async (jwt: string, signers: { keyId?: string; pub?: string }[], ty = 0) =>
          (await validate(jwt, signers, ty)).message!.reason;
        assert.equal(
          await reason(userJwt, [{ keyId: "nats.account_signer" }], NatsJwtType.ACCOUNT),
          NatsJwtValidationReason.WRONG_TYPE,
        );
        assert.equal(
          await reason(userJwt, [{ keyId: "nats.operator" }]),
          NatsJwtValidationReason.UNKNOWN_SIGNER,
        );
        assert.equal(
          await reason(userJwt, [{ pub: signerPub }]),
          NatsJwtValidationReason.VALID,
        );
        const sig = userJwt.split(".")[2]!;
        const flipped = `${userJwt.slice(0, -sig.length)}${sig[0] === "A" ? "B" : "A"}${
          sig.slice(1)
        }`;
        assert.equal(
          await reason(flipped, [{ keyId: "nats.account_signer" }]),
          NatsJwtValidationReason.BAD_SIGNATURE,
        );
        assert.equal(
          await reason("not.a.jwt", [{ keyId: "nats.account_signer" }]),
          NatsJwtValidationReason.MALFORMED,
        );
        // Expired and not-yet-valid tokens from an inline signer (an npm nkeys account).
        const now = Math.floor(Date.now() / 1000);
        const expired = selfSigned({ iat: now - 100, exp: now - 50 });
        assert.equal(
          await reason(expired.jwt, [{ pub: expired.pub }]),
          NatsJwtValidationReason.EXPIRED,
        );
        const early = selfSigned({ iat: now, nbf: now + 3600 });
        assert.equal(
          await reason(early.jwt, [{ pub: early.pub }]),
          NatsJwtValidationReason.NOT_YET_VALID,
        );
        const empty = await validate(userJwt, []);
        assert.equal(empty.reason, "INVALID_REQUEST");
        const denied = await validate(userJwt, [{ keyId: "nats.other_account" }]);
        assert.equal(denied.code, "PERMISSION_DENIED");
        assert.equal(denied.reason, "UNAUTHORIZED");
      });

      await t.step("SignNatsJwt: iss from the key, type/sub/jti/ttl checks", async () => {
        const u2 = createUser().getPublicKey();
        const claims = { sub: u2, name: "signed", nats: { type: "user", pub: { allow: ["a.>"] } } };
        const signed = await f.cli([
          "sign-nats-jwt",
          "--key-id",
          "nats.account",
          "--claims-json",
          JSON.stringify(claims),
          "--expect-type",
          "user",
          "--ttl-secs",
          "60",
        ]);
        assert.equal(signed.code, 0, signed.stderr);
        const c = claimsOf(signed.stdout.trim());
        assert.equal(c.iss, accPub);
        assert.equal(c.jti, natsJti(c));
        assert.equal((c.exp as number) - (c.iat as number), 60);
        Deno.writeTextFileSync(`${f.dir}/signed.jwt`, signed.stdout);
        const go = await goChain(["decode", `${f.dir}/signed.jwt`]);
        assert.equal(go.code, 0, go.out);

        const sign = (
          keyId: string,
          body: unknown,
          extra: Record<string, unknown> = {},
        ) =>
          rawCall(s, NatsService.method.signNatsJwt, {
            keyId,
            claimsJson: utf8(JSON.stringify(body)),
            ...extra,
          });
        const issued = { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 };
        const expires = { seconds: issued.seconds + 120n, nanos: 0 };
        // REQUIRE_VALID: a correct jti passes, a wrong one is refused; REWRITE fixes it.
        const std = {
          ...claims,
          iss: accPub,
          iat: Number(issued.seconds),
          exp: Number(expires.seconds),
        };
        const goodJti = natsJti(std);
        const times = { issuedAt: issued, expiresAt: expires };
        assert.equal(
          (await sign("nats.account", { ...claims, jti: goodJti }, times)).code,
          "OK",
        );
        const wrong = await sign("nats.account", { ...claims, jti: "WRONG" }, times);
        assert.equal(wrong.reason, "INVALID_REQUEST");
        assert.match(wrong.details, /jti/);
        const rewritten = await sign("nats.account", { ...claims, jti: "WRONG" }, {
          ...times,
          jtiMode: NatsJtiMode.REWRITE,
        });
        assert.equal(rewritten.code, "OK");
        assert.equal(claimsOf(rewritten.message!.token).jti, goodJti);
        const cases: [string, unknown, Record<string, unknown>, RegExp][] = [
          ["nats.account", { ...claims, iss: opPub }, {}, /iss/],
          [
            "nats.account",
            claims,
            { ttl: { seconds: 5n, nanos: 0 }, expiresAt: expires },
            /exclusive/,
          ],
          ["nats.account", { ...claims, nats: { type: "user", bearer_token: true } }, {}, /bearer/],
          ["nats.account", { ...claims, sub: accPub }, {}, /sub/],
          ["nats.account", { ...claims, nats: { type: "account" } }, {}, /may not issue/],
          ["nats.account", { ...claims, nats: { type: "bogus" } }, {}, /nats.type/],
          ["nats.account", claims, { expectedType: NatsJwtType.ACCOUNT }, /expected account/],
          ["nats.account", { ...claims, exp: 1 }, {}, /exp/],
          ["nats.user_key", claims, {}, /nats_type/],
        ];
        for (const [key, body, extra, why] of cases) {
          const r = await sign(key, body, extra);
          assert.equal(r.code, "INVALID_ARGUMENT", `${why}: ${show(r)}`);
          assert.match(r.details, why);
        }
      });

      await t.step("role chain and authorization", async () => {
        const u = createUser().getPublicKey();
        const deniedMint = await rawCall(s, NatsService.method.mintNatsUser, {
          keyId: "nats.other_account",
          subjectUserNkey: u,
        });
        assert.equal(deniedMint.code, "PERMISSION_DENIED");
        const unknown = await rawCall(s, NatsService.method.mintNatsUser, {
          keyId: "nats.no_such_key",
          subjectUserNkey: u,
        });
        assert.equal(unknown.code, "PERMISSION_DENIED");
        assert.equal(unknown.details, deniedMint.details);
        // Issuer keys stay out of the generic paths.
        const generic = await rawCall(s, MintingService.method.mintJwt, {
          keyId: "nats.account",
          subject: "x",
        });
        assert.equal(generic.code, "PERMISSION_DENIED");
        const raw = await rawCall(s, SigningService.method.sign, {
          keyId: "nats.operator",
          message: utf8("anything"),
        });
        assert.equal(raw.code, "PERMISSION_DENIED");
        // Role chain: an account key cannot mint accounts, an operator key cannot mint users,
        // a user key issues nothing, and subjects must have the right prefix.
        const chain: [Promise<{ code: string; details: string }>, RegExp][] = [
          [
            rawCall(s, NatsService.method.mintNatsAccount, {
              keyId: "nats.account",
              subjectAccountNkey: accPub,
            }),
            /may not issue account/,
          ],
          [
            rawCall(s, NatsService.method.mintNatsUser, {
              keyId: "nats.operator",
              subjectUserNkey: u,
            }),
            /may not issue user/,
          ],
          [
            rawCall(s, NatsService.method.mintNatsUser, {
              keyId: "nats.user_key",
              subjectUserNkey: u,
            }),
            /nats_type/,
          ],
          [
            rawCall(s, NatsService.method.mintNatsUser, {
              keyId: "nats.account",
              subjectUserNkey: accPub,
            }),
            /subject_user_nkey/,
          ],
          [
            rawCall(s, NatsService.method.mintNatsUser, {
              keyId: "nats.account",
              subjectUserNkey: u,
              pubAllow: ["bad subject"],
            }),
            /pub_allow\[0\]/,
          ],
          [
            rawCall(s, NatsService.method.mintNatsServer, {
              keyId: "nats.account",
              subjectServerNkey: u,
            }),
            /may not issue server/,
          ],
        ];
        for (const [p, why] of chain) {
          const r = await p;
          assert.equal(r.code, "INVALID_ARGUMENT", show(r));
          assert.match(r.details, why);
        }
        for (
          const [method, field, role] of [
            [NatsService.method.mintNatsSigner, "subjectNkey", "O"],
            [NatsService.method.mintNatsServer, "subjectServerNkey", "N"],
            [NatsService.method.mintNatsCurve, "subjectCurveNkey", "X"],
          ] as const
        ) {
          const subject = encodePublicNkey(role, crypto.getRandomValues(new Uint8Array(32)));
          // deno-lint-ignore no-explicit-any
          const r = await rawCall(s, method as any, { keyId: "nats.operator", [field]: subject });
          assert.equal(r.code, "OK", show(r));
          const tok = (r.message as unknown as { token: string }).token;
          assert.equal(claimsOf(tok).sub, subject);
        }
        // One audit record per decision: the signer's mint is on record as allowed.
        const recs = f.auditRecords().filter((r) =>
          show(r).includes("nats.account_signer") && show(r).includes('"mint"')
        );
        assert.ok(recs.length >= 1);
        const deniedRecs = f.auditRecords().filter((r) => show(r).includes("nats.other_account"));
        assert.ok(deniedRecs.length >= 1);
      });

      await t.step("xkv1 boxes interoperate both ways with @nats-io/nkeys", async () => {
        const nk = await f.cli(["new-key", "--key-id", "nats.xkey"]);
        assert.equal(nk.code, 0, nk.stderr);
        const ours = await publicNkey(s, "nats.xkey", "X");
        const peer = createCurve();
        const enc = await rawCall(s, NatsService.method.encryptNatsCurve, {
          keyId: "nats.xkey",
          recipientPublicXkey: peer.getPublicKey(),
          plaintext: utf8("to the peer"),
        });
        assert.equal(enc.code, "OK", show(enc));
        const box = enc.message!.ciphertext;
        assert.equal(fromUtf8(box.subarray(0, 4)), "xkv1");
        assert.equal(fromUtf8(peer.open(box, ours)!), "to the peer");
        const sealed = peer.seal(utf8("to basil"), ours);
        const dec = await rawCall(s, NatsService.method.decryptNatsCurve, {
          keyId: "nats.xkey",
          senderPublicXkey: peer.getPublicKey(),
          ciphertext: sealed,
        });
        assert.equal(dec.code, "OK", show(dec));
        assert.equal(fromUtf8(dec.message!.plaintext), "to basil");
        const tampered = sealed.slice();
        tampered[tampered.length - 1]! ^= 1;
        for (const ct of [tampered, sealed.subarray(0, 10), utf8("xkv2").slice()]) {
          const r = await rawCall(s, NatsService.method.decryptNatsCurve, {
            keyId: "nats.xkey",
            senderPublicXkey: peer.getPublicKey(),
            ciphertext: ct,
          });
          assert.equal(r.reason, "DECRYPT_FAILED");
          assert.equal(r.details, "decrypt failed");
        }
        const wrongKind = await rawCall(s, NatsService.method.encryptNatsCurve, {
          keyId: "nats.xkey",
          recipientPublicXkey: createUser().getPublicKey(),
          plaintext: utf8("x"),
        });
        assert.equal(wrongKind.reason, "INVALID_REQUEST");
        assert.match(wrongKind.details, /recipient_public_xkey/);
      });

      await t.step("seeded mutations: malformed JWTs and claims never crash", async () => {
        const rand = prng(0x14);
        const alphabet = 'ABCxyz019-_.{}"=/+ ';
        for (let i = 0; i < 60; i++) {
          let m = userJwt;
          const n = 1 + Math.floor(rand() * 4);
          for (let k = 0; k < n; k++) {
            const at = Math.floor(rand() * m.length);
            const op = rand();
            if (op < 0.4) {
              m = m.slice(0, at) + alphabet[Math.floor(rand() * alphabet.length)] + m.slice(at + 1);
            } else if (op < 0.6) m = m.slice(0, at);
            else if (op < 0.8) m = m.slice(0, at) + "." + m.slice(at);
            else m = m.slice(0, at) + m.slice(at + 1 + Math.floor(rand() * 8));
          }
          const r = await rawCall(s, NatsService.method.validateNatsJwt, {
            jwt: m,
            allowedSigners: [{ signer: { case: "keyId", value: "nats.account_signer" } }],
          });
          assert.equal(r.code, "OK", `mutation ${i}: ${show(r)}`);
          if (m !== userJwt) assert.equal(r.message!.valid, false, `mutation ${i} accepted`);
        }
        const body = JSON.stringify({ sub: createUser().getPublicKey(), nats: { type: "user" } });
        for (let i = 0; i < 40; i++) {
          const at = Math.floor(rand() * body.length);
          const m = body.slice(0, at) + alphabet[Math.floor(rand() * alphabet.length)] +
            body.slice(at + 1);
          const r = await rawCall(s, NatsService.method.signNatsJwt, {
            keyId: "nats.account",
            claimsJson: utf8(m),
          });
          assert.ok(
            ["OK", "INVALID_ARGUMENT"].includes(r.code),
            `claims ${i}: ${show(r)}`,
          );
        }
        const huge = await rawCall(s, NatsService.method.validateNatsJwt, {
          jwt: "a".repeat(1024 * 1024 + 1),
          allowedSigners: [{ signer: { case: "keyId", value: "nats.account_signer" } }],
        });
        assert.equal(huge.code, "RESOURCE_EXHAUSTED");
        assert.equal(huge.reason, "PAYLOAD_TOO_LARGE");
        const hugeClaims = await rawCall(s, NatsService.method.signNatsJwt, {
          keyId: "nats.account",
          claimsJson: new Uint8Array(1024 * 1024 + 1),
        });
        assert.equal(hugeClaims.reason, "PAYLOAD_TOO_LARGE");
        // The agent is still serving.
        const after = await rawCall(s, NatsService.method.validateNatsJwt, {
          jwt: userJwt,
          allowedSigners: [{ signer: { case: "keyId", value: "nats.account_signer" } }],
        });
        assert.equal(after.message!.valid, true);
      });
    } finally {
      await agent.stop();
      f.cleanup();
    }
  },
}));

/** A user JWT signed by a fresh account key nobody trusts (for the server's refusal). */
/**
 * Connects to nats-server with a user JWT and the nonce signed by `sign`,
 * sends PING, and returns what the server said after its INFO (a PONG when
 * accepted, an -ERR when refused).
 */
async function rawNatsConnect(
  port: number,
  jwt: string,
  sign: (nonce: Uint8Array) => Uint8Array,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const buf = new Uint8Array(65536);
    let text = "";
    const readUntil = async (done: (t: string) => boolean) => {
      while (!done(text)) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
    };
    await readUntil((t) => t.includes("\r\n"));
    const info = JSON.parse(/^INFO (.*)\r\n/.exec(text)![1]!);
    text = "";
    const sig = toBase64Url(sign(utf8(info.nonce)));
    const connect = { verbose: false, pedantic: false, jwt, sig, protocol: 1, lang: "raw" };
    await conn.write(utf8(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`));
    await readUntil((t) => /PONG\r\n|-ERR [^\r]*\r\n/.test(t));
    return text;
  } finally {
    try {
      conn.close();
    } catch { /* the server may have closed it first */ }
  }
}

function forgeUserJwt(userPub: string, accPub: string): string {
  const kp = createUser();
  void accPub;
  const now = Math.floor(Date.now() / 1000);
  const std = { iat: now, iss: kp.getPublicKey(), sub: userPub };
  const claims = { ...std, jti: natsJti(std), nats: { type: "user", version: 2 } };
  const input = natsSigningInput(claims);
  return assembleNatsJwt(input, kp.sign(input));
}

/** A JWT signed by a fresh npm-nkeys account key, with the given times. */
function selfSigned(times: Record<string, number>): { jwt: string; pub: string } {
  const kp = createUser();
  const std = { ...times, iss: kp.getPublicKey(), sub: createUser().getPublicKey() };
  const claims = { ...std, jti: natsJti(std), nats: { type: "user", version: 2 } };
  const input = natsSigningInput(claims);
  return { jwt: assembleNatsJwt(input, kp.sign(input)), pub: kp.getPublicKey() };
}
