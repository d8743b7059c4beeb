/**
 * Startup check of the sealed-invocation catalog bindings (contract §1,
 * "invocation binding validation" in the startup order): when `[invocation]`
 * is enabled, the request-encryption key must be a sealing X25519 key
 * labelled `broker_key_use=request-encryption`, and the broker identity's
 * response-signing key an asymmetric ed25519 or ecdsa-p256 key (the COSE
 * algorithms EdDSA and ES256) labelled `broker_key_use=response-signing`.
 * @module
 */

import type { Catalog } from "../catalog/schema.ts";
import type { InvocationConfig } from "../config/schema.ts";
import { InputError } from "../core/errors.ts";

/** Throws `InputError` (token `invocation_bindings`) naming the field when a binding is invalid. */
export function checkInvocationBindings(catalog: Catalog, inv: InvocationConfig | undefined): void {
  if (!inv?.enable) return;
  const bad = (field: string, why: string) =>
    new InputError("invocation_bindings", `${field}: ${why}`);
  const req = catalog.keys.get(inv.requestEncryptionKeyId ?? "");
  if (
    !req || req.class !== "sealing" || req.keyType !== "x25519" ||
    req.labelMap.get("broker_key_use") !== "request-encryption"
  ) {
    throw bad(
      "invocation.request-encryption-key-id",
      "must name a sealing x25519 catalog key labelled broker_key_use=request-encryption",
    );
  }
  const sk = catalog.keys.get(inv.responseSigningKeyId ?? "");
  if (
    !sk || sk.class !== "asymmetric" ||
    (sk.keyType !== "ed25519" && sk.keyType !== "ecdsa-p256") ||
    sk.labelMap.get("broker_key_use") !== "response-signing"
  ) {
    throw bad(
      "broker-identity.response-signing-key-id",
      "must name an asymmetric ed25519 or ecdsa-p256 catalog key labelled " +
        "broker_key_use=response-signing",
    );
  }
}
