/**
 * The SPIFFE Workload API on the broker socket, against independent peers:
 * a python3-grpcio client (stubs from proto/spiffe/workload.proto) fetches
 * and validates SVIDs; `openssl verify` checks the chains; Python's ssl and
 * `openssl s_client` complete an mTLS handshake with SVIDs of two different
 * real uids; python3-jwt verifies a JWT-SVID against the served JWKS. Plus
 * rotation pushes, CA rotation, revocation that survives a restart, the
 * header gate, the JWKS HTTP endpoint, IssueCertificate and Watch.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodeJwt, decodeProtectedHeader } from "jose";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AdminService,
  EventSchema,
  WatchRequestSchema,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { toBase64Url, utf8 } from "../../lib/core/encoding.ts";
import { ROOT as REPO } from "../helpers/cli.ts";
import { Fixture } from "../helpers/fixture.ts";
import { gated, ROOT } from "../helpers/peers.ts";
import { PYTHON, pyWorkload } from "../helpers/python.ts";
import { rawCall } from "../helpers/rawgrpc.ts";
import { peerUser } from "../helpers/users.ts";
import { Signal, waitForPath } from "../helpers/wait.ts";

const TD = "example.org";

function catalog(): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ed25519", "ecdsa-p256"],
      },
    },
    keys: {
      "spiffe.x509_ca": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "db",
        engine: "pki",
        path: "pki/issue/spiffe",
        writable: true,
        missing: "generate",
        labels: ["svid_kind=x509", `trust_domain=${TD}`],
        description: "X.509-SVID CA",
      },
      "spiffe.jwt_issuer": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "db",
        path: "spiffe/jwt",
        writable: true,
        missing: "generate",
        labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
        description: "JWT-SVID issuer",
      },
      "spiffe.revocations": {
        class: "value",
        backend: "db",
        path: "spiffe/revocations",
        writable: true,
        missing: "warn",
        labels: ["revocation_store=jwt-svid"],
        description: "JWT-SVID deny-list",
      },
      "tls.ca": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "db",
        engine: "pki",
        path: "pki/issue/web",
        writable: true,
        missing: "generate",
        description: "TLS CA for IssueCertificate",
      },
    },
  };
}

function policy(me: number, peer: number) {
  return () => ({
    schemaVersion: 2,
    subjects: {
      app: { anyOf: [{ kind: "unix", uid: me }] },
      peer: { anyOf: [{ kind: "unix", uid: peer }] },
    },
    rules: [
      { id: "svids", subjects: ["app", "peer"], action: ["op:mint"], target: ["spiffe.*"] },
      { id: "validate", subjects: ["app"], action: ["op:validate"], target: ["spiffe.jwt_issuer"] },
      { id: "tls", subjects: ["app"], action: ["op:mint", "op:rotate"], target: ["tls.ca"] },
      {
        id: "ops",
        subjects: ["app"],
        action: ["op:revoke", "op:watch", "op:rotate", "op:list"],
        target: ["broker.revoke", "broker.watch", "spiffe.*"],
      },
    ],
    config: { names: { users: { [String(me)]: "app", [String(peer)]: "peer" } } },
  });
}

async function run(cmd: string, args: string[], stdin?: string) {
  const c = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = c.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await c.output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test(gated([ROOT, PYTHON, "openssl", "setpriv", "useradd"], {
  name: "X.509-SVIDs: python grpcio fetches, openssl verifies, two uids complete an mTLS handshake",
  async fn() {
    const peer = await peerUser();
    const f = await Fixture.create({
      catalog: catalog(),
      policy: policy(Deno.uid()!, peer.uid),
      socketMode: "0666",
    });
    const a = await f.start();
    const dirs = { app: `${f.dir}/app`, peer: `${f.dir}/peer` };
    try {
      for (const d of Object.values(dirs)) {
        Deno.mkdirSync(d);
        Deno.chmodSync(d, 0o777);
      }
      const mine = await pyWorkload(f.socket, ["x509", dirs.app]);
      assert.equal(mine.code, "OK", JSON.stringify(mine));
      assert.deepEqual(mine.responses, [{
        spiffe_id: `spiffe://${TD}/app`,
        svids: 1,
        bundle_certs: 1,
      }]);
      const theirs = await pyWorkload(f.socket, ["x509", dirs.peer], { as: peer });
      assert.equal(
        (theirs.responses as { spiffe_id: string }[])[0]!.spiffe_id,
        `spiffe://${TD}/peer`,
      );

      const v = await run("openssl", [
        "verify",
        "-CAfile",
        `${dirs.app}/bundle.pem`,
        `${dirs.app}/svid.pem`,
      ]);
      assert.equal(v.code, 0, v.out + v.err);
      const text =
        (await run("openssl", ["x509", "-noout", "-text", "-in", `${dirs.app}/svid.pem`])).out;
      assert.equal(text.match(/URI:spiffe:\/\//g)?.length, 1);
      assert.match(text, /URI:spiffe:\/\/example\.org\/app/);
      assert.match(text, /CA:FALSE/);
      assert.match(text, /Digital Signature/);
      const ca =
        (await run("openssl", ["x509", "-noout", "-text", "-in", `${dirs.app}/bundle.pem`])).out;
      assert.match(ca, /CA:TRUE/);
      const key = await run("openssl", ["pkey", "-in", `${dirs.app}/key.pem`, "-pubout"]);
      const certKey = await run("openssl", [
        "x509",
        "-in",
        `${dirs.app}/svid.pem`,
        "-pubkey",
        "-noout",
      ]);
      assert.equal(key.out, certKey.out, "the key matches the SVID");

      // mTLS: Python ssl serves with the app SVID; openssl s_client presents the peer SVID.
      const port = freePort();
      const server = new Deno.Command(PYTHON, {
        args: [
          `${REPO}/tests/fixtures/py/mtls_server.py`,
          String(port),
          `${dirs.app}/svid.pem`,
          `${dirs.app}/key.pem`,
          `${dirs.app}/bundle.pem`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      assert.match(first.value ?? "", /listening/);
      const client = await run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-cert",
        `${dirs.peer}/svid.pem`,
        "-key",
        `${dirs.peer}/key.pem`,
        "-CAfile",
        `${dirs.peer}/bundle.pem`,
        "-verify_return_error",
        "-ign_eof",
      ], "");
      let rest = "";
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        rest += r.value;
      }
      await server.status;
      assert.match(client.out, /Verify return code: 0 \(ok\)/, client.out + client.err);
      assert.match(client.out, /hello spiffe:\/\/example\.org\/peer/);
      assert.deepEqual(JSON.parse(rest.trim()).client_uris, [`spiffe://${TD}/peer`]);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
}));

Deno.test(gated([PYTHON, "openssl"], {
  name: "header gate, identity rules and IssueCertificate",
  async fn() {
    const f = await Fixture.create({ catalog: catalog(), policy: policy(Deno.uid()!, 424242) });
    const a = await f.start();
    try {
      const noHeader = await pyWorkload(f.socket, ["jwt", "db", "--no-header"]);
      assert.deepEqual(noHeader, {
        code: "INVALID_ARGUMENT",
        details: "SPIFFE Workload API requests require workload.spiffe.io=true",
        has_details_bin: false,
      });
      const noHeaderStream = await pyWorkload(f.socket, ["x509", f.dir, "1", "--no-header"]);
      assert.equal(noHeaderStream.code, "INVALID_ARGUMENT");
      const other = await pyWorkload(f.socket, ["jwt", "db", `spiffe://${TD}/someone-else`]);
      assert.equal(other.code, "PERMISSION_DENIED");
      const foreign = await pyWorkload(f.socket, ["jwt", "db", "spiffe://evil.example/app"]);
      assert.equal(foreign.code, "INVALID_ARGUMENT");
      const mine = await pyWorkload(f.socket, ["jwt", "db", `spiffe://${TD}/app`]);
      assert.equal(mine.code, "OK");
      const noAud = await pyWorkload(f.socket, ["jwt", ""]);
      assert.equal(noAud.code, "INVALID_ARGUMENT");

      const cert = await f.cli([
        "issue-cert",
        "--key-id",
        "tls.ca",
        "--common-name",
        "web.internal",
        "--dns-san",
        "web.internal",
        "--ip-san",
        "10.0.0.7",
        "--ttl-secs",
        "3600",
        "--cert-file",
        `${f.dir}/web.pem`,
        "--key-file",
        `${f.dir}/web.key`,
      ]);
      assert.equal(cert.code, 0, cert.stderr);
      assert.equal(Deno.statSync(`${f.dir}/web.key`).mode! & 0o777, 0o600);
      const pems = Deno.readTextFileSync(`${f.dir}/web.pem`).split(
        /(?=-----BEGIN CERTIFICATE-----)/,
      );
      Deno.writeTextFileSync(`${f.dir}/leaf.pem`, pems[0]!);
      Deno.writeTextFileSync(`${f.dir}/ca.pem`, pems.slice(1).join(""));
      const v = await run("openssl", ["verify", "-CAfile", `${f.dir}/ca.pem`, `${f.dir}/leaf.pem`]);
      assert.equal(v.code, 0, v.out + v.err);
      const text =
        (await run("openssl", ["x509", "-noout", "-text", "-in", `${f.dir}/leaf.pem`])).out;
      assert.match(text, /DNS:web\.internal/);
      assert.match(text, /IP Address:10\.0\.0\.7/);
      const denied = await f.cli([
        "issue-cert",
        "--key-id",
        "spiffe.jwt_issuer",
        "--common-name",
        "x",
        "--ttl-secs",
        "60",
      ]);
      assert.equal(denied.code, 1);
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
}));

Deno.test(gated([PYTHON, "openssl"], {
  name: "rotation: the open stream receives a fresh SVID at half-life, and a CA rotation re-issues",
  async fn() {
    const f = await Fixture.create({
      catalog: catalog(),
      policy: policy(Deno.uid()!, 424242),
      configExtra: "svid-ttl-secs = 10",
    });
    const a = await f.start();
    try {
      // Half-life push: two responses on one stream, within the client's 120 s deadline.
      const r = await pyWorkload(f.socket, ["x509", f.dir, "2"]);
      assert.equal(r.code, "OK", JSON.stringify(r));
      assert.equal((r.responses as unknown[]).length, 2);
      const s1 =
        (await run("openssl", ["x509", "-noout", "-serial", "-in", `${f.dir}/svid.pem`])).out;
      const s2 =
        (await run("openssl", ["x509", "-noout", "-serial", "-in", `${f.dir}/svid.pem.1`])).out;
      assert.notEqual(s1, s2, "a new SVID was pushed");
      assert.equal(
        (await run("openssl", [
          "verify",
          "-CAfile",
          `${f.dir}/bundle.pem.1`,
          `${f.dir}/svid.pem.1`,
        ])).code,
        0,
      );

      // CA rotation while a stream is open: the pushed SVID chains to the new CA; bundles carry both.
      // The rotation waits for the stream's first response (its files appearing). A half-life
      // push may come before or after the rotation's, so three responses are read: the last
      // is then always issued under the new CA.
      const dir = `${f.dir}/stream`;
      Deno.mkdirSync(dir);
      const streaming = pyWorkload(f.socket, ["x509", dir, "3"]);
      await waitForPath(`${dir}/bundle.pem`);
      const rot = await f.cli(["rotate", "--key-id", "spiffe.x509_ca"]);
      assert.equal(rot.stdout, "version: 2\n", rot.stderr);
      const after = await streaming;
      const pushed = after.responses as { bundle_certs: number }[];
      assert.equal(pushed.length, 3, JSON.stringify(after));
      assert.equal(pushed[0]!.bundle_certs, 1);
      assert.equal(pushed[2]!.bundle_certs, 2);
      const v = await run("openssl", [
        "verify",
        "-CAfile",
        `${dir}/bundle.pem.2`,
        `${dir}/svid.pem.2`,
      ]);
      assert.equal(v.code, 0, v.out + v.err);
      const b = await pyWorkload(f.socket, ["bundles"]);
      assert.deepEqual(b.bundles, { [`spiffe://${TD}`]: 2 });
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
}));

Deno.test(gated([PYTHON], {
  name:
    "JWT-SVIDs: fetch, validate, verify with python3-jwt from the JWKS, revoke survives restart",
  async fn() {
    const f = await Fixture.create({ catalog: catalog(), policy: policy(Deno.uid()!, 424242) });
    let a = await f.start();
    try {
      const got = await pyWorkload(f.socket, ["jwt", "db"]);
      assert.equal(got.code, "OK", JSON.stringify(got));
      const [svid] = got.svids as { spiffe_id: string; svid: string }[];
      assert.equal(svid!.spiffe_id, `spiffe://${TD}/app`);
      const token = svid!.svid;
      const payload = decodeJwt(token) as {
        exp: number;
        iat: number;
        jti: string;
        [k: string]: unknown;
      };
      assert.equal(payload.exp - payload.iat, 300);
      assert.equal(payload.iss, `spiffe://${TD}`);
      assert.equal(payload.aud, "db");
      assert.match(payload.jti, /^[\w-]{43}$/);

      const ok = await pyWorkload(f.socket, ["validate", "db", token]);
      assert.equal(ok.code, "OK", JSON.stringify(ok));
      assert.equal(ok.spiffe_id, `spiffe://${TD}/app`);
      assert.equal((ok.claims as { jti: string }).jti, payload.jti);
      const wrongAud = await pyWorkload(f.socket, ["validate", "other", token]);
      assert.equal(wrongAud.code, "INVALID_ARGUMENT");
      const tampered = await pyWorkload(f.socket, ["validate", "db", token.slice(0, -3) + "AAA"]);
      assert.equal(tampered.code, "INVALID_ARGUMENT");
      const rest = token.split(".").slice(1);
      const header = decodeProtectedHeader(token);
      const critHeader = toBase64Url(utf8(JSON.stringify({ ...header, crit: ["x"], x: 1 })));
      const crit = await pyWorkload(f.socket, ["validate", "db", [critHeader, ...rest].join(".")]);
      assert.equal(crit.code, "INVALID_ARGUMENT");
      assert.match(crit.details as string, /unsupported critical header/);

      // python3-jwt verifies it against the JWKS the Workload API serves.
      const jwks = await pyWorkload(f.socket, ["jwtbundles"]);
      const keys = (jwks.bundles as Record<string, { keys: unknown[] }>)[`spiffe://${TD}`]!.keys;
      assert.equal(keys.length, 1);
      Deno.writeTextFileSync(`${f.dir}/jwks.json`, JSON.stringify({ keys }));
      const py = await run(PYTHON, [
        "-c",
        `import jwt,json,sys; ks=jwt.PyJWKSet.from_json(open('${f.dir}/jwks.json').read()); h=jwt.get_unverified_header(sys.argv[1]); k=[x for x in ks.keys if x.key_id==h['kid']][0]; print(json.dumps(jwt.decode(sys.argv[1], key=k.key, algorithms=['ES256'], audience='db')))`,
        token,
      ]);
      assert.equal(py.code, 0, py.err);
      assert.equal(JSON.parse(py.out).sub, `spiffe://${TD}/app`);

      const rev = await f.cli([
        "revoke",
        "--trust-domain",
        TD,
        "--jti",
        payload.jti,
        "--expires-at-unix",
        String(payload.exp),
        "--json",
      ]);
      assert.equal(rev.code, 0, rev.stderr);
      assert.equal(JSON.parse(rev.stdout).persisted, true);
      assert.ok(JSON.parse(rev.stdout).expires_at_unix >= payload.exp);
      const past = await f.cli([
        "revoke",
        "--trust-domain",
        TD,
        "--jti",
        "x",
        "--expires-at-unix",
        "1000",
      ]);
      assert.equal(past.code, 1);
      assert.match(past.stderr, /InvalidArgument.*expires_at_unix is in the past/);
      const revoked = await pyWorkload(f.socket, ["validate", "db", token]);
      assert.equal(revoked.code, "INVALID_ARGUMENT");
      assert.match(revoked.details as string, /revoked/);
      await a.stop();
      a = await f.start();
      const afterRestart = await pyWorkload(f.socket, ["validate", "db", token]);
      assert.equal(afterRestart.code, "INVALID_ARGUMENT", "the deny-list survives a restart");
    } finally {
      await a.stop();
      f.cleanup();
    }
  },
}));

Deno.test("JWKS HTTP is off by default; when enabled it is GET-only, cached and exact", async () => {
  const port = freePort();
  const f = await Fixture.create({ catalog: catalog(), policy: policy(Deno.uid()!, 424242) });
  let a = await f.start();
  try {
    await assert.rejects(fetch(`http://127.0.0.1:8201/jwks.json`).then((r) => r.body?.cancel()));
    await a.stop();
    f.writeConfig({
      configExtra:
        `[jwks]\nenable = true\nlisten = "127.0.0.1:${port}"\nissuer = "https://issuer.example/"`,
    });
    a = await f.start();
    const base = `http://127.0.0.1:${port}`;
    const r = await fetch(`${base}/jwks.json`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/jwk-set+json");
    assert.equal(r.headers.get("cache-control"), "public, max-age=300");
    const etag = r.headers.get("etag")!;
    const doc = await r.json();
    assert.equal(doc.keys.length, 1);
    assert.equal(doc.keys[0].kty, "EC");
    assert.equal(doc.keys[0].alg, "ES256");
    const same = await fetch(`${base}/.well-known/jwks.json`, {
      headers: { "if-none-match": etag },
    });
    assert.equal(same.status, 304);
    await same.body?.cancel();
    const oidc = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
    assert.equal(oidc.issuer, "https://issuer.example");
    assert.equal(oidc.jwks_uri, "https://issuer.example/jwks.json");
    for (
      const [method, path, status] of [
        ["POST", "/jwks.json", 405],
        ["DELETE", "/jwks.json", 405],
        ["HEAD", "/jwks.json", 405],
        ["GET", "/../../etc/passwd", 404],
        ["GET", "/%2e%2e/etc/passwd", 404],
        ["GET", "/", 404],
      ] as const
    ) {
      const x = await fetch(`${base}${path}`, { method, headers: { host: "evil.example" } });
      assert.equal(x.status, status, `${method} ${path}`);
      const body = await x.text();
      assert.ok(!body.includes("evil.example"), "the Host header is never reflected");
    }
  } finally {
    await a.stop();
    f.cleanup();
  }
});

Deno.test("Watch streams KeyRotated and Revoked to an explicitly granted watcher", async () => {
  const f = await Fixture.create({ catalog: catalog(), policy: policy(Deno.uid()!, 424242) });
  const a = await f.start();
  const client = new grpc.Client(`unix:${f.socket}`, grpc.credentials.createInsecure());
  try {
    const id = (b: Buffer) => b;
    const call = client.makeServerStreamRequest(
      "/basil.broker.v1.AdminService/Watch",
      id,
      id,
      Buffer.from(toBinary(WatchRequestSchema, create(WatchRequestSchema, {}))),
    );
    let events: string[] = [];
    const arrived = new Signal();
    call.on("data", (b: Buffer) => {
      const e = fromBinary(EventSchema, b);
      const d = e.detail;
      events.push(
        d.case === "keyRotated"
          ? `rotated:${d.value.keyId}:${d.value.newVersion}`
          : d.case === "revoked"
          ? `revoked:${d.value.id}`
          : d.case ?? "",
      );
      arrived.changed();
    });
    call.on("error", () => {});
    // No event says "subscribed", so the stream is probed: revocations of throwaway ids are
    // sent until one is delivered (each round trip is awaited; no sleep). Every later probe
    // is then delivered too, so after the last one arrives the stream is live and quiet.
    const expires = BigInt(Math.floor(Date.now() / 1000) + 600);
    let probes = 0;
    while (events.length === 0) {
      assert.ok(probes < 1000, "the Watch stream delivered no event");
      const r = await rawCall(f.socket, AdminService.method.revoke, {
        trustDomain: TD,
        jti: `probe-${++probes}`,
        expiresAtUnix: expires,
      });
      assert.equal(r.code, "OK", r.details);
    }
    await arrived.until(() => events.at(-1) === `revoked:probe-${probes}`, "last probe event");
    events = [];
    await f.cli(["rotate", "--key-id", "spiffe.jwt_issuer"]);
    await f.cli([
      "revoke",
      "--trust-domain",
      TD,
      "--jti",
      "abc",
      "--expires-at-unix",
      String(Math.floor(Date.now() / 1000) + 60),
    ]);
    await arrived.until(() => events.length >= 3, `three events (got ${events.length})`);
    call.cancel();
    assert.deepEqual(events, ["rotated:spiffe.jwt_issuer:2", "bundleChanged", "revoked:abc"]);
  } finally {
    client.close();
    await a.stop();
    f.cleanup();
  }
});
