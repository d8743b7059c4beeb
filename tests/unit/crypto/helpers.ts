/**
 * Shared helpers for the crypto tests: key pairs from `node:crypto`, ECDSA
 * signature format conversion, canary checks, and the optional `openssl` CLI.
 * @module
 */

import assert from "node:assert/strict";
import * as nc from "node:crypto";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { BasilError } from "../../../lib/core/errors.ts";
import { fromHex, toBase64, toHex } from "../../../lib/core/encoding.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { type Need, permission } from "../../helpers/peers.ts";

/** Hex → bytes for test vectors. */
export function hex(text: string): Uint8Array {
  return fromHex(text.replace(/\s+/g, ""));
}

/** A PKCS#8 DER private key of any `generateKeyPairSync` type, as SecretBytes. */
export function pkcs8Of(key: nc.KeyObject): SecretBytes {
  return new SecretBytes(new Uint8Array(key.export({ format: "der", type: "pkcs8" })));
}

/** A node:crypto key pair. */
export interface KeyPair {
  readonly privateKey: nc.KeyObject;
  readonly publicKey: nc.KeyObject;
}

/** A fresh key pair from node:crypto. */
export function nodePair(
  kind: "ed25519" | "x25519" | "ed448" | "ec" | "rsa" | "dsa",
  opts: Record<string, unknown> = {},
): KeyPair {
  const gen = nc.generateKeyPairSync as unknown as (
    k: string,
    o: Record<string, unknown>,
  ) => KeyPair;
  return gen(kind, opts);
}

/** Curve orders (from @noble/curves, an independent source), for high-S tests. */
export const CURVE_ORDER: Readonly<Record<"P-256" | "P-384" | "P-521", bigint>> = {
  "P-256": p256.Point.Fn.ORDER,
  "P-384": p384.Point.Fn.ORDER,
  "P-521": p521.Point.Fn.ORDER,
};

function toBig(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt("0x" + toHex(bytes));
}

function fromBig(n: bigint, len: number): Uint8Array {
  return hex(n.toString(16).padStart(len * 2, "0"));
}

/** `r ‖ s` with s replaced by n − s (the other valid, "high-S" form). */
export function flipS(sig: Uint8Array, order: bigint): Uint8Array {
  const half = sig.length / 2;
  const s = toBig(sig.subarray(half));
  const out = sig.slice();
  out.set(fromBig(order - s, half), half);
  return out;
}

function derInt(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let body = bytes.subarray(i);
  if (body[0]! & 0x80) body = Uint8Array.of(0, ...body);
  return Uint8Array.of(0x02, body.length, ...body);
}

/** IEEE P1363 `r ‖ s` → ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function p1363ToDer(sig: Uint8Array): Uint8Array {
  const half = sig.length / 2;
  const body = [...derInt(sig.subarray(0, half)), ...derInt(sig.subarray(half))];
  const len = body.length < 0x80 ? [body.length] : [0x81, body.length];
  return Uint8Array.of(0x30, ...len, ...body);
}

/** ASN.1 DER ECDSA signature → `r ‖ s` of `half` bytes each. */
export function derToP1363(der: Uint8Array, half: number): Uint8Array {
  let pos = 2;
  if (der[1]! & 0x80) pos += der[1]! & 0x7f;
  const read = () => {
    assert.equal(der[pos], 0x02);
    const len = der[pos + 1]!;
    const v = der.subarray(pos + 2, pos + 2 + len);
    pos += 2 + len;
    return fromBig(toBig(v), half);
  };
  const r = read();
  const s = read();
  return Uint8Array.of(...r, ...s);
}

/** Every rendering of `canary` a careless error could contain. */
function renderings(canary: Uint8Array): string[] {
  const latin1 = String.fromCharCode(...canary);
  return [toHex(canary), toHex(canary).toUpperCase(), toBase64(canary), latin1].filter((s) =>
    s.length >= 8
  ).flatMap((s) => [s, s.slice(0, 16)]);
}

/** Asserts an INVALID_REQUEST BasilError that shows none of `canary`'s bytes. */
export function assertRejectedWithoutCanary(
  fn: () => unknown,
  canary: Uint8Array,
  messagePattern?: RegExp,
): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BasilError, `expected a BasilError, got ${String(caught)}`);
  assert.equal(caught.code, "INVALID_REQUEST");
  if (messagePattern) assert.match(caught.message, messagePattern);
  const everything = [
    caught.message,
    caught.detail ?? "",
    String(caught.cause ?? ""),
    caught.stack ?? "",
    Deno.inspect(caught, { depth: 10 }),
    JSON.stringify(caught),
  ].join("\n");
  for (const r of renderings(canary)) {
    assert.ok(!everything.includes(r), `error output contains key bytes (${r.slice(0, 8)}…)`);
  }
}

/** What the `openssl` oracle checks need: leave to spawn, and openssl on PATH. */
export const OPENSSL_ORACLE: readonly Need[] = [permission("run"), "openssl"];

/** Runs `openssl` with `args`; returns exit status and combined output. */
export async function openssl(args: string[], cwd: string): Promise<{ ok: boolean; out: string }> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, out: text };
}
