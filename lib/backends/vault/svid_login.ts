/**
 * The SpiffeSigner self-login JWT (contract §6, §10): the broker signs a
 * JWT-SVID for its own SPIFFE ID with the sealed RSA key (RS256) and
 * presents it at `auth/<jwt-auth-mount>/login`. The token is built as bytes
 * (it is a bearer credential until it expires) and the caller wipes it.
 * @module
 */

import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import { InputError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";
import { bufferView } from "../../crypto/key_formats.ts";
import { base64UrlAscii } from "../../core/encoding.ts";

const enc = new TextEncoder();

/** The signing key of a SpiffeSigner credential, parsed once (kept by OpenSSL, not the JS heap). */
export function spiffeSignerKey(backend: string, keyPem: SecretBytes): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: bufferView(keyPem.expose()), format: "pem" });
  } catch {
    throw new InputError(
      "backend_cred_invalid",
      `backend ${backend}: the SpiffeSigner key_pem is not a PEM private key`,
    );
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new InputError(
      "backend_cred_invalid",
      `backend ${backend}: the SpiffeSigner key must be RSA (RS256), not ${key.asymmetricKeyType}`,
    );
  }
  return key;
}

/** Claims of one self-login JWT-SVID. */
export interface SelfSvidClaims {
  readonly spiffeId: string;
  readonly audience: string;
  readonly nowSecs: number;
  readonly ttlSecs: number;
}

/** Mints `header.claims.signature` as ASCII bytes; the caller wipes them. */
export function mintSelfSvid(key: KeyObject, c: SelfSvidClaims): Uint8Array {
  const header = { alg: "RS256", typ: "JWT" };
  const jti = Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const claims = {
    sub: c.spiffeId,
    aud: [c.audience],
    iat: c.nowSecs,
    nbf: c.nowSecs,
    exp: c.nowSecs + c.ttlSecs,
    jti,
  };
  const h = base64UrlAscii(enc.encode(JSON.stringify(header)));
  const p = base64UrlAscii(enc.encode(JSON.stringify(claims)));
  const input = new Uint8Array(h.length + 1 + p.length);
  input.set(h, 0);
  input[h.length] = 0x2e;
  input.set(p, h.length + 1);
  const sig = base64UrlAscii(new Uint8Array(sign("sha256", input, key)));
  const out = new Uint8Array(input.length + 1 + sig.length);
  out.set(input, 0);
  out[input.length] = 0x2e;
  out.set(sig, input.length + 1);
  return out;
}
