/**
 * `--backend id=…,type=…` parsing (contract §5) and credential files.
 * @module
 */

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { collectBackends, loadBackends, parseBackendSpec } from "../../../lib/seal/backend_spec.ts";
import type { BackendCred } from "../../../lib/seal/creds.ts";
import { CANARY, CANARY_DEK, tempDir, writeFile } from "./helpers.ts";

const text = (cred: BackendCred, field: string): string => {
  const v = (cred as unknown as Record<string, { expose(): Uint8Array }>)[field];
  return new TextDecoder().decode(v!.expose());
};

function fails(spec: string, token: string, re: RegExp): InputError {
  let err: unknown;
  try {
    parseBackendSpec(spec);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof InputError, `expected InputError for ${spec}`);
  assert.equal(err.token, token, err.message);
  assert.match(err.message, re);
  for (const c of Object.values(CANARY)) assert.ok(!err.message.includes(c), err.message);
  return err;
}

Deno.test("backend spec: openbao/vault token-file, with and without addr; file trimmed", async () => {
  const dir = await tempDir();
  const tok = writeFile(dir, "tok", `  ${CANARY.token}  \r\n`);
  const a = parseBackendSpec(`id=bao,type=openbao,token-file=${tok}`);
  assert.equal(a.id, "bao");
  assert.equal(a.cred.type, "VaultToken");
  assert.equal(text(a.cred, "token"), CANARY.token);
  assert.ok(!("addr" in a.cred));
  const b = parseBackendSpec(`id=v,type=vault,addr=https://vault.example:8200,token-file=${tok}`);
  assert.ok(b.cred.type === "VaultToken" && b.cred.addr === "https://vault.example:8200");
});

Deno.test("backend spec: approle and spiffe signer", async () => {
  const dir = await tempDir();
  const sid = writeFile(dir, "sid", `${CANARY.secretId}\n`);
  const pem = writeFile(dir, "pem", `${CANARY.pem}\n`);
  const a = parseBackendSpec(`id=bao,type=openbao,role-id=ROLE,secret-id-file=${sid}`);
  assert.ok(a.cred.type === "VaultAppRole" && a.cred.role_id === "ROLE");
  assert.equal(text(a.cred, "secret_id"), CANARY.secretId);
  const s = parseBackendSpec(`id=bao,type=vault,spiffe-key-file=${pem},spiffe-id=spiffe://td/b`);
  assert.ok(s.cred.type === "SpiffeSigner" && s.cred.spiffe_id === "spiffe://td/b");
  assert.equal(text(s.cred, "key_pem"), CANARY.pem);
});

Deno.test("backend spec: vault needs exactly one credential source", async () => {
  const dir = await tempDir();
  const tok = writeFile(dir, "tok", "t");
  const re = /exactly one credential source/;
  fails("id=b,type=openbao", "backend_spec_invalid", re);
  fails(
    `id=b,type=openbao,token-file=${tok},role-id=r,secret-id-file=${tok}`,
    "backend_spec_invalid",
    re,
  );
  fails("id=b,type=openbao,role-id=r", "backend_spec_invalid", re);
  fails(`id=b,type=openbao,secret-id-file=${tok}`, "backend_spec_invalid", re);
  fails(`id=b,type=openbao,spiffe-key-file=${tok}`, "backend_spec_invalid", re);
  fails(`id=b,type=openbao,token-file=${tok},spiffe-id=x`, "backend_spec_invalid", re);
});

Deno.test("backend spec: addr must be an http(s) URL", async () => {
  const dir = await tempDir();
  const tok = writeFile(dir, "tok", "t");
  for (const addr of ["127.0.0.1:8200", "ftp://h", "unix:///run/x", "https://"]) {
    fails(
      `id=b,type=openbao,addr=${addr},token-file=${tok}`,
      "backend_spec_invalid",
      /"addr" must be an http\(s\) URL/,
    );
  }
});

Deno.test("backend spec: 1password, aws-kms, gcp-kms, db-keystore", async () => {
  const dir = await tempDir();
  const op = parseBackendSpec(
    "id=op,type=1password,provider-uri=onepassword://V,project=p,profile=prod",
  );
  assert.deepEqual(op.cred, {
    type: "OnePassword",
    provider_uri: "onepassword://V",
    project: "p",
    profile: "prod",
  });
  const uriFile = writeFile(dir, "op-uri", "onepassword+token://tok@V\n", 0o600);
  const opFile = parseBackendSpec(
    `id=op,type=1password,provider-uri-file=${uriFile},project=p,profile=prod`,
  );
  assert.equal((opFile.cred as { provider_uri: string }).provider_uri, "onepassword+token://tok@V");
  assert.deepEqual(parseBackendSpec("id=a,type=aws-kms,region=us-east-1").cred, {
    type: "AwsKms",
    region: "us-east-1",
  });
  assert.deepEqual(parseBackendSpec("id=a,type=aws-kms,region=us-east-1,profile=prod").cred, {
    type: "AwsKms",
    region: "us-east-1",
    profile: "prod",
  });
  assert.deepEqual(
    parseBackendSpec("id=g,type=gcp-kms,project=p,location=global,key-ring=r").cred,
    {
      type: "GcpKms",
      project: "p",
      location: "global",
      key_ring: "r",
    },
  );
  const sa = writeFile(dir, "sa.json", `${CANARY.sa}\n`);
  const g = parseBackendSpec(`id=g,type=gcp-kms,project=p,location=l,key-ring=r,key-file=${sa}`);
  assert.equal(text(g.cred, "service_account_json"), CANARY.sa);
  const dek = writeFile(dir, "dek", CANARY_DEK);
  const d = parseBackendSpec(`id=db,type=db-keystore,path=/var/db,dek-file=${dek},cipher=aegis256`);
  assert.equal(d.cred.type, "DbKeystoreDek");
  assert.deepEqual(d.cred.type === "DbKeystoreDek" && d.cred.dek.expose(), CANARY_DEK);
  assert.equal(Object.keys(d.cred).join(), "type,dek", "path and cipher are not sealed");
});

Deno.test("backend spec: the DEK is exactly 32 bytes (a line ending after 32 is tolerated)", async () => {
  const dir = await tempDir();
  const withLf = writeFile(dir, "lf", new Uint8Array([...CANARY_DEK, 0x0a]));
  const d = parseBackendSpec(`id=db,type=db-keystore,path=/x,dek-file=${withLf}`);
  assert.deepEqual(d.cred.type === "DbKeystoreDek" && d.cred.dek.expose(), CANARY_DEK);
  const lfDek = new Uint8Array(32).fill(0x41);
  lfDek[31] = 0x0a;
  const endsLf = writeFile(dir, "endslf", lfDek);
  const e = parseBackendSpec(`id=db,type=db-keystore,path=/x,dek-file=${endsLf}`);
  assert.deepEqual(e.cred.type === "DbKeystoreDek" && e.cred.dek.expose(), lfDek);
  for (const n of [0, 31, 33, 64]) {
    const f = writeFile(dir, `d${n}`, new Uint8Array(n).fill(0x43));
    fails(
      `id=db,type=db-keystore,path=/x,dek-file=${f}`,
      "backend_spec_invalid",
      /must contain exactly 32 bytes/,
    );
  }
});

Deno.test("backend spec: credential files must be 0600 and readable, UTF-8 and non-empty", async () => {
  const dir = await tempDir();
  for (const mode of [0o644, 0o640, 0o660, 0o604, 0o700]) {
    const f = writeFile(dir, `t${mode}`, CANARY.token, mode);
    fails(
      `id=b,type=openbao,token-file=${f}`,
      "secret_file_mode",
      new RegExp(`token-file ${f}: mode is 0${mode.toString(8)}, must be 0600`),
    );
  }
  const dek = writeFile(dir, "dek", CANARY_DEK, 0o644);
  fails(
    `id=db,type=db-keystore,path=/x,dek-file=${dek}`,
    "secret_file_mode",
    /dek-file .*must be 0600/,
  );
  const sa = writeFile(dir, "sa", CANARY.sa, 0o640);
  fails(
    `id=g,type=gcp-kms,project=p,location=l,key-ring=r,key-file=${sa}`,
    "secret_file_mode",
    /key-file/,
  );
  fails(
    `id=b,type=openbao,token-file=${dir}/missing`,
    "secret_file_unreadable",
    /cannot read: no such file/,
  );
  const empty = writeFile(dir, "empty", " \n");
  fails(`id=b,type=openbao,token-file=${empty}`, "backend_spec_invalid", /is empty/);
  const bin = writeFile(dir, "bin", new Uint8Array([0x43, 0xff, 0xfe]));
  fails(
    `id=b,type=openbao,role-id=r,secret-id-file=${bin}`,
    "backend_spec_invalid",
    /not valid UTF-8/,
  );
});

Deno.test("backend spec: unknown, duplicate and empty fields are refused before files are read", async () => {
  const dir = await tempDir();
  const open = writeFile(dir, "open", CANARY.token, 0o644); // would fail the mode check if read
  const f = `token-file=${open}`;
  fails(
    `id=b,type=openbao,${f},tokn=x`,
    "backend_spec_invalid",
    /unknown field "tokn" for type openbao/,
  );
  fails(
    `id=b,type=openbao,${f},token-file=y`,
    "backend_spec_invalid",
    /duplicate field "token-file"/,
  );
  fails(`id=b,type=openbao,${f},addr=`, "backend_spec_invalid", /field "addr" must not be empty/);
  fails(`id=b,type=openbao,${f},addr=  `, "backend_spec_invalid", /must not be empty/);
  fails(`id=b,type=openbao,${f},=x`, "backend_spec_invalid", /field name must not be empty/);
  fails(`id=b,type=openbao,${f},bare`, "backend_spec_invalid", /expected key=value/);
  fails(`id=,type=openbao,${f}`, "backend_spec_invalid", /field "id" must not be empty/);
  fails(`type=openbao,${f}`, "backend_spec_invalid", /requires field "id"/);
  fails(`id=b,${f}`, "backend_spec_invalid", /requires field "type"/);
  fails("", "backend_spec_invalid", /requires field "id"/);
  fails(
    `id=b,type=consul,${f}`,
    "backend_spec_invalid",
    /unknown backend type \(expected one of openbao, vault/,
  );
  fails("id=a,type=aws-kms", "backend_spec_invalid", /type aws-kms requires field "region"/);
  fails("id=a,type=aws-kms,region=x,region=y", "backend_spec_invalid", /duplicate field "region"/);
  fails("id=a,type=aws-kms,region=x,profile", "backend_spec_invalid", /expected key=value/);
  fails(
    "id=a,type=aws-kms,region=x,project=p",
    "backend_spec_invalid",
    /unknown field "project" for type aws-kms/,
  );
  fails(
    "id=o,type=1password,project=p,profile=q",
    "backend_spec_invalid",
    /requires exactly one of provider-uri or provider-uri-file/,
  );
  fails(
    `id=o,type=1password,provider-uri=onepassword://V,provider-uri-file=${open},project=p,profile=q`,
    "backend_spec_invalid",
    /requires exactly one of provider-uri or provider-uri-file/,
  );
  fails(
    "id=g,type=gcp-kms,project=p,location=l",
    "backend_spec_invalid",
    /requires field "key-ring"/,
  );
  fails(`id=d,type=db-keystore,dek-file=${open}`, "backend_spec_invalid", /requires field "path"/);
  fails(`id=b,type=openbao,token=${CANARY.token}`, "backend_spec_invalid", /unknown field "token"/);
});

Deno.test("backend spec: collectBackends refuses a repeated id", () => {
  const a = parseBackendSpec("id=a,type=aws-kms,region=x");
  const b = parseBackendSpec("id=a,type=aws-kms,region=y");
  assert.throws(
    () => collectBackends([a, b]),
    (e: unknown) => e instanceof InputError && /duplicate backend id "a"/.test(e.message),
  );
  assert.equal(collectBackends([a]).size, 1);
  assert.deepEqual(utf8("x").length, 1);
});

Deno.test("backend spec: loadBackends wipes the credentials already read when a later one fails", async () => {
  const dir = await tempDir();
  const tok = writeFile(dir, "tok", `${CANARY.token}\n`);
  const first = parseBackendSpec(`id=a,type=openbao,addr=https://bao,token-file=${tok}`);
  assert.equal(text(first.cred, "token"), CANARY.token);
  const held = (first.cred as { token: { expose(): Uint8Array } }).token.expose();
  const boom = new InputError("backend_spec_invalid", "--backend: boom");
  assert.throws(
    () =>
      loadBackends([() => first, () => parseBackendSpec("id=b,type=aws-kms,region=x"), () => {
        throw boom;
      }]),
    (e: unknown) => e === boom,
  );
  assert.ok(held.every((b) => b === 0), "the token read first is wiped");
  const ok = loadBackends([() => parseBackendSpec("id=c,type=aws-kms,region=x")]);
  assert.deepEqual([...ok.keys()], ["c"]);
});
