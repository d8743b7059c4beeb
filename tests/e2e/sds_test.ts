/**
 * Envoy SDS on the broker socket, against an independent client: python3-grpcio
 * with message modules compiled by protoc (--include_imports) from the envoy
 * protos shipped in npm @grpc/grpc-js-xds. FetchSecrets and StreamSecrets give
 * the caller its own SVID and key (openssl checks the chain, the SAN and that
 * the key matches) and the validation context; the stream pushes a re-issued
 * certificate and, after a CA rotation, the new bundle; another uid gets only
 * its own identity, or nothing when not allowed; unknown names, a bad
 * type_url and DeltaSecrets are refused. StreamSecrets is driven as Envoy
 * drives it too: the stream stays open, every answer is ACKed, the
 * subscription grows (a new audited decision), a NACK and a stale nonce go
 * unanswered, and a CA rotation still arrives as a push.
 */

import assert from "node:assert/strict";
import { ROOT as REPO } from "../helpers/cli.ts";
import type { RunAs } from "../helpers/cli.ts";
import { withAgent } from "../helpers/fixture.ts";
import { gated, ROOT } from "../helpers/peers.ts";
import { PYTHON } from "../helpers/python.ts";
import { peerUser } from "../helpers/users.ts";
import { waitForPath } from "../helpers/wait.ts";

const TD = "example.org";
const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const XDS = `${REPO}/node_modules/@grpc/grpc-js-xds/deps`;
const INCLUDES = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) =>
  `-I${XDS}/${d}`
);

function catalog(): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ecdsa-p256"],
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
        labels: [
          "svid_kind=x509",
          `trust_domain=${TD}`,
          "envoy_sds_certificate_resource=default",
          "envoy_sds_validation_context_resource=ROOTCA",
        ],
        description: "X.509-SVID CA served over SDS",
      },
    },
  };
}

function policy(me: number, peer: number, peerMints: boolean) {
  return () => ({
    schemaVersion: 2,
    subjects: {
      app: { anyOf: [{ kind: "unix", uid: me }] },
      peer: { anyOf: [{ kind: "unix", uid: peer }] },
    },
    rules: [
      { id: "svids", subjects: ["app"], action: ["op:mint", "op:rotate"], target: ["spiffe.*"] },
      ...(peerMints
        ? [{ id: "peer", subjects: ["peer"], action: ["op:mint"], target: ["spiffe.*"] }]
        : []),
    ],
    config: { names: { users: { [String(me)]: "app", [String(peer)]: "peer" } } },
  });
}

let genDir: string | undefined;

/** Compiles the envoy SDS protos and every import (37 files) for Python, once. */
async function sdsStubs(): Promise<string> {
  if (genDir) return genDir;
  const dir = await Deno.makeTempDir({ prefix: "basil-sdsgen-" });
  const set = `${dir}/set.pb`;
  const roots = [
    "envoy/service/secret/v3/sds.proto",
    "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  ];
  const a = await new Deno.Command("protoc", {
    args: [
      ...INCLUDES,
      "-I/usr/include",
      "--include_imports",
      `--descriptor_set_out=${set}`,
      ...roots,
    ],
  }).output();
  if (a.code !== 0) throw new Error(`protoc failed: ${new TextDecoder().decode(a.stderr)}`);
  const list = await new Deno.Command(PYTHON, {
    args: [
      "-c",
      "import sys\nfrom google.protobuf import descriptor_pb2 as d\ns=d.FileDescriptorSet()\n" +
      "s.ParseFromString(open(sys.argv[1],'rb').read())\n" +
      "print('\\n'.join(f.name for f in s.file if not f.name.startswith('google/protobuf/')))",
      set,
    ],
  }).output();
  const files = new TextDecoder().decode(list.stdout).trim().split("\n");
  assert.ok(files.length > 10, "the descriptor set lists the imports");
  const b = await new Deno.Command("protoc", {
    args: [...INCLUDES, "-I/usr/include", `--python_out=${dir}`, ...files],
  }).output();
  if (b.code !== 0) throw new Error(`protoc failed: ${new TextDecoder().decode(b.stderr)}`);
  await new Deno.Command("chmod", { args: ["-R", "a+rX", dir] }).output();
  genDir = dir;
  return dir;
}

interface SdsResult {
  code: string;
  details?: string;
  responses?: {
    version_info: string;
    type_url: string;
    nonce: string;
    resources_type_urls: string[];
    secrets: { name: string; kind: string }[];
  }[];
}

async function sds(
  socket: string,
  command: "fetch" | "stream" | "delta" | "envoy",
  out: string,
  names: string[],
  o: { count?: number | "rot"; typeUrl?: string; as?: RunAs } = {},
): Promise<SdsResult> {
  const gen = await sdsStubs();
  const args = [
    `${REPO}/tests/fixtures/py/sds_client.py`,
    gen,
    socket,
    command,
    out,
    String(o.count ?? 1),
    o.typeUrl ?? SECRET,
    ...names,
  ];
  const cmd = o.as
    ? ["setpriv", `--reuid=${o.as.uid}`, `--regid=${o.as.gid}`, "--clear-groups", PYTHON, ...args]
    : [PYTHON, ...args];
  const r = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), env: { HOME: "/nonexistent" } })
    .output();
  const text = new TextDecoder().decode(r.stdout).trim();
  if (r.code !== 0 || text === "") {
    throw new Error(`sds client failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  return JSON.parse(text);
}

async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** The certificate verifies against the CA file, names `id`, and `key` is its key. */
async function checkCert(cert: string, key: string, ca: string, id: string): Promise<string> {
  const v = await openssl(["verify", "-CAfile", ca, cert]);
  assert.equal(v.code, 0, v.out);
  const text = await openssl(["x509", "-noout", "-text", "-in", cert]);
  assert.match(text.out, new RegExp(`URI:${id.replace(/[./]/g, "\\$&")}\\b`));
  const fromCert = await openssl(["x509", "-noout", "-pubkey", "-in", cert]);
  const fromKey = await openssl(["pkey", "-pubout", "-in", key]);
  assert.equal(fromKey.code, 0, fromKey.out);
  assert.equal(fromCert.out, fromKey.out, "the private key belongs to the certificate");
  return (await openssl(["x509", "-noout", "-serial", "-in", cert])).out;
}

Deno.test(gated([PYTHON, "openssl", "protoc"], {
  name: "SDS: FetchSecrets and StreamSecrets serve the caller's own SVID and the bundle, and push",
  async fn() {
    await withAgent({
      catalog: catalog(),
      policy: policy(Deno.uid()!, 424242, false),
      configExtra: "svid-ttl-secs = 10",
    }, async (f) => {
      const id = `spiffe://${TD}/app`;
      const got = await sds(f.socket, "fetch", f.dir, ["default", "ROOTCA"], { typeUrl: "" });
      assert.equal(got.code, "OK", JSON.stringify(got));
      const r = got.responses![0]!;
      assert.equal(r.version_info, "basil-sds-v1");
      assert.equal(r.type_url, SECRET);
      assert.deepEqual(r.resources_type_urls, [SECRET, SECRET]);
      assert.deepEqual(r.secrets, [
        { name: "default", kind: "tls_certificate" },
        { name: "ROOTCA", kind: "validation_context" },
      ]);
      await checkCert(
        `${f.dir}/default.cert.pem`,
        `${f.dir}/default.key.pem`,
        `${f.dir}/ROOTCA.ca.pem`,
        id,
      );

      // Half-life re-issue: the stream pushes a fresh certificate (client deadline 120 s).
      const dir = `${f.dir}/stream`;
      Deno.mkdirSync(dir);
      const s = await sds(f.socket, "stream", dir, ["default", "ROOTCA"], { count: 2 });
      assert.equal(s.code, "OK", JSON.stringify(s));
      assert.equal(s.responses!.length, 2);
      assert.notEqual(s.responses![0]!.nonce, s.responses![1]!.nonce);
      const s1 = await checkCert(
        `${dir}/default.cert.pem`,
        `${dir}/default.key.pem`,
        `${dir}/ROOTCA.ca.pem`,
        id,
      );
      const s2 = await checkCert(
        `${dir}/default.cert.pem.1`,
        `${dir}/default.key.pem.1`,
        `${dir}/ROOTCA.ca.pem.1`,
        id,
      );
      assert.notEqual(s1, s2, "a re-issued certificate was pushed");

      // CA rotation while the stream is open: the validation context grows to two CAs and the
      // last pushed certificate chains to the new CA. Half-life pushes may interleave, and the
      // bundle change and the re-issue may come as one push or two, so the stream is read until
      // a response carrying both CAs and a certificate issued after the rotation.
      const rdir = `${f.dir}/rot`;
      Deno.mkdirSync(rdir);
      const streaming = sds(f.socket, "stream", rdir, ["ROOTCA", "default"], { count: "rot" });
      await waitForPath(`${rdir}/ROOTCA.ca.pem`);
      const rot = await f.cli(["rotate", "--key-id", "spiffe.x509_ca"]);
      assert.equal(rot.stdout, "version: 2\n", rot.stderr);
      const after = await streaming;
      assert.equal(after.code, "OK", JSON.stringify(after));
      const n = after.responses!.length - 1;
      assert.ok(n >= 1, "at least one push after the first answer");
      const first = Deno.readTextFileSync(`${rdir}/ROOTCA.ca.pem`);
      const last = Deno.readTextFileSync(`${rdir}/ROOTCA.ca.pem.${n}`);
      assert.equal(first.match(/BEGIN CERTIFICATE/g)!.length, 1);
      assert.equal(last.match(/BEGIN CERTIFICATE/g)!.length, 2);
      await checkCert(
        `${rdir}/default.cert.pem.${n}`,
        `${rdir}/default.key.pem.${n}`,
        `${rdir}/ROOTCA.ca.pem.${n}`,
        id,
      );
      // The new leaf does not verify under the old CA alone: it chains to the new one.
      const old = await openssl([
        "verify",
        "-CAfile",
        `${rdir}/ROOTCA.ca.pem`,
        `${rdir}/default.cert.pem.${n}`,
      ]);
      assert.notEqual(old.code, 0, "the pushed certificate is issued by the rotated CA");
    });
  },
}));

Deno.test(gated([PYTHON, "openssl", "protoc"], {
  name: "SDS: a bidirectional stream follows ACKs, a growing subscription, a NACK, a stale nonce",
  async fn() {
    await withAgent({
      catalog: catalog(),
      policy: policy(Deno.uid()!, 424242, false),
    }, async (f) => {
      const id = `spiffe://${TD}/app`;
      const dir = `${f.dir}/envoy`;
      Deno.mkdirSync(dir);
      const before = f.auditRecords().length;
      // Two answers (one per subscription), then the push(es) of a CA rotation.
      const streaming = sds(f.socket, "envoy", dir, ["default", "ROOTCA"], { count: "rot" });
      await waitForPath(`${dir}/ready`);
      const rot = await f.cli(["rotate", "--key-id", "spiffe.x509_ca"]);
      assert.equal(rot.stdout, "version: 2\n", rot.stderr);
      const got = await streaming;
      assert.equal(got.code, "OK", JSON.stringify(got));
      const names = got.responses!.map((r) => r.secrets.map((x) => x.name).join(","));
      const n = names.length - 1;
      assert.ok(n >= 2, "two answers, then at least one push");
      assert.deepEqual(names, ["default", ...Array(n).fill("default,ROOTCA")]);
      assert.deepEqual(got.responses!.map((r) => r.nonce), names.map((_, i) => String(i + 1)));
      assert.equal(Deno.readTextFileSync(`${dir}/ROOTCA.ca.pem.1`).match(/BEGIN CERT/g)!.length, 1);
      assert.equal(
        Deno.readTextFileSync(`${dir}/ROOTCA.ca.pem.${n}`).match(/BEGIN CERT/g)!.length,
        2,
      );
      await checkCert(
        `${dir}/default.cert.pem.${n}`,
        `${dir}/default.key.pem.${n}`,
        `${dir}/ROOTCA.ca.pem.${n}`,
        id,
      );

      // One record for the first subscription, two for the grown one (its own request).
      const recs = f.auditRecords().slice(before).filter((r) => r.target_id === "spiffe.x509_ca");
      const sds_ = recs.filter((r) => r.op === "mint" || r.op === "fetch_x509_bundles");
      assert.deepEqual(
        sds_.map((r) => `${r.op}:${r.decision}`),
        ["mint:allow", "mint:allow", "fetch_x509_bundles:allow"],
        JSON.stringify(recs),
      );
    });
  },
}));

Deno.test(gated([PYTHON, "protoc"], {
  name: "SDS: a reload that withdraws the grant ends an open stream PERMISSION_DENIED",
  async fn() {
    await withAgent({
      catalog: catalog(),
      policy: policy(Deno.uid()!, 424242, false),
    }, async (f, a) => {
      const dir = `${f.dir}/reload`;
      Deno.mkdirSync(dir);
      const streaming = sds(f.socket, "envoy", dir, ["default", "ROOTCA"], { count: 10 });
      await waitForPath(`${dir}/ready`); // both answers are in; the stream is open
      // The caller's uid no longer maps to any subject.
      Deno.writeTextFileSync(f.policy, JSON.stringify(policy(424242, 424243, false)()));
      Deno.kill(a.agentPid, "SIGHUP");
      const got = await streaming;
      assert.equal(got.code, "PERMISSION_DENIED", JSON.stringify(got));
      const denied = f.auditRecords().filter((r) =>
        r.op === "mint" && r.decision === "deny" && r.target_id === "envoy.sds"
      );
      assert.equal(denied.length, 1, JSON.stringify(f.auditRecords().slice(-3)));
    });
  },
}));

Deno.test(gated([PYTHON, "protoc"], {
  name: "SDS: unknown resource names, a bad type_url and DeltaSecrets are refused",
  async fn() {
    await withAgent({
      catalog: catalog(),
      policy: policy(Deno.uid()!, 424242, false),
    }, async (f) => {
      const unknown = await sds(f.socket, "fetch", f.dir, ["nope"]);
      assert.equal(unknown.code, "PERMISSION_DENIED", JSON.stringify(unknown));
      const unknownStream = await sds(f.socket, "stream", f.dir, ["default", "nope"]);
      assert.equal(unknownStream.code, "PERMISSION_DENIED", JSON.stringify(unknownStream));
      const bad = await sds(f.socket, "fetch", f.dir, ["default"], {
        typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
      });
      assert.equal(bad.code, "INVALID_ARGUMENT", JSON.stringify(bad));
      assert.match(bad.details!, /type_url/);
      const none = await sds(f.socket, "fetch", f.dir, []);
      assert.equal(none.code, "INVALID_ARGUMENT", JSON.stringify(none));
      const delta = await sds(f.socket, "delta", f.dir, ["default"]);
      assert.equal(delta.code, "UNIMPLEMENTED", JSON.stringify(delta));
    });
  },
}));

Deno.test(gated([ROOT, PYTHON, "openssl", "protoc", "setpriv", "useradd"], {
  name: "SDS: each uid gets only its own identity; a uid without mint gets no certificate",
  async fn() {
    const peer = await peerUser();
    for (const peerMints of [true, false]) {
      await withAgent({
        catalog: catalog(),
        policy: policy(Deno.uid()!, peer.uid, peerMints),
        socketMode: "0666",
      }, async (f) => {
        const dir = `${f.dir}/peer`;
        Deno.mkdirSync(dir);
        Deno.chmodSync(dir, 0o777);
        const theirs = await sds(f.socket, "fetch", dir, ["default", "ROOTCA"], { as: peer });
        if (peerMints) {
          assert.equal(theirs.code, "OK", JSON.stringify(theirs));
          const id = `spiffe://${TD}/peer`;
          await checkCert(
            `${dir}/default.cert.pem`,
            `${dir}/default.key.pem`,
            `${dir}/ROOTCA.ca.pem`,
            id,
          );
          const san = await openssl(["x509", "-noout", "-text", "-in", `${dir}/default.cert.pem`]);
          assert.doesNotMatch(san.out, /example\.org\/app/);
        } else {
          assert.equal(theirs.code, "PERMISSION_DENIED", JSON.stringify(theirs));
          const ca = await sds(f.socket, "fetch", dir, ["ROOTCA"], { as: peer });
          assert.equal(ca.code, "OK", JSON.stringify(ca));
        }
      });
    }
  },
}));
