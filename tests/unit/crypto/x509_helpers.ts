/**
 * Helpers for the X.509 tests: `openssl` as an independent oracle (verify,
 * text dump, public-key comparison) and a temp directory.
 * @module
 */

import assert from "node:assert/strict";
import { BasilError } from "../../../lib/core/errors.ts";
import { dersToPem, derToPem } from "../../../lib/crypto/x509/mod.ts";
import { gated } from "../../helpers/peers.ts";
import { openssl, OPENSSL_ORACLE } from "./helpers.ts";

/**
 * Runs the `openssl` oracle part of a test as its own step, in a fresh temp
 * directory: when openssl cannot run, the step reports itself ignored with
 * the reason (and fails in CI) while the rest of the test still runs.
 */
export async function opensslOracle(
  t: Deno.TestContext,
  fn: (dir: string) => Promise<void>,
  name = "openssl oracle",
): Promise<void> {
  await t.step(gated(OPENSSL_ORACLE, { name, fn: () => inTemp(fn) }));
}

/** Runs `fn` in a fresh temp directory, removed after. */
export async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "basil-x509-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes DER certificates as one PEM file; returns its name. */
export async function writePem(
  dir: string,
  name: string,
  ders: readonly Uint8Array[],
): Promise<string> {
  await Deno.writeTextFile(`${dir}/${name}`, dersToPem(ders));
  return name;
}

/** `openssl verify -x509_strict -CAfile cas leaf`: whether it verified, and the output. */
export async function opensslVerify(
  dir: string,
  caDers: readonly Uint8Array[],
  leafDer: Uint8Array,
  extra: string[] = [],
): Promise<{ ok: boolean; out: string }> {
  await writePem(dir, "ca.pem", caDers);
  await Deno.writeTextFile(`${dir}/leaf.pem`, derToPem(leafDer));
  const r = await openssl(
    ["verify", "-x509_strict", ...extra, "-CAfile", "ca.pem", "leaf.pem"],
    dir,
  );
  return { ok: r.ok && /leaf\.pem: OK/.test(r.out), out: r.out };
}

/** Asserts `openssl verify` accepts `leafDer` under `caDers`. */
export async function assertVerifies(
  dir: string,
  caDers: readonly Uint8Array[],
  leafDer: Uint8Array,
  extra: string[] = [],
): Promise<void> {
  const r = await opensslVerify(dir, caDers, leafDer, extra);
  assert.ok(r.ok, `openssl verify failed:\n${r.out}`);
}

/** `openssl x509 -noout -text` of a DER certificate. */
export async function opensslText(dir: string, der: Uint8Array): Promise<string> {
  await Deno.writeFile(`${dir}/cert.der`, der);
  const r = await openssl(["x509", "-inform", "DER", "-in", "cert.der", "-noout", "-text"], dir);
  assert.ok(r.ok, r.out);
  return r.out;
}

/** Asserts the PKCS#8 private key's public half is the certificate's public key. */
export async function assertKeyMatchesCert(
  dir: string,
  pkcs8: Uint8Array,
  certDer: Uint8Array,
): Promise<void> {
  await Deno.writeFile(`${dir}/leaf.key.der`, pkcs8);
  await Deno.writeFile(`${dir}/leaf.der`, certDer);
  const fromKey = await openssl(
    ["pkey", "-inform", "DER", "-in", "leaf.key.der", "-pubout"],
    dir,
  );
  const fromCert = await openssl(
    ["x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-pubkey"],
    dir,
  );
  assert.ok(fromKey.ok && fromCert.ok, fromKey.out + fromCert.out);
  assert.match(fromKey.out, /-----BEGIN PUBLIC KEY-----/);
  assert.equal(fromKey.out, fromCert.out);
}

/** Number of non-overlapping occurrences of `needle` in `text`. */
export function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** A rejection predicate: a BasilError with `code` whose message matches `message`. */
export function isCode(code: string, message?: RegExp | string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof BasilError, `expected BasilError, got ${String(e)}`);
    assert.equal(e.code, code, `code (${e.message}; ${e.detail})`);
    if (typeof message === "string") assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    return true;
  };
}
