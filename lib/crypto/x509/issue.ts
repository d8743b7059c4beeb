/**
 * Certificate issuance end to end, with the CA key used in place through a
 * {@linkcode TbsSigner}: a self-signed CA certificate, and leaves with a
 * fresh P-256 key pair.
 *
 * Invariant: a leaf private key that was generated is either returned to
 * the caller (who wipes it) or wiped here when issuance fails.
 * @module
 */

import type { SecretBytes } from "../../core/secret.ts";
import { generateLeafKey } from "./leaf_key.ts";
import type { CaSubject, LeafProfile } from "./profile.ts";
import { type CaKeyType, signCertificate, type TbsSigner } from "./sign.ts";
import { buildCaTbs, buildLeafTbs, type CaIdentity } from "./tbs.ts";

/** Default CA lifetime: 10 years. */
export const CA_VALIDITY_SECS = 10 * 365 * 24 * 3600;

/** Options for {@linkcode createCaCertificate}. */
export interface CaCertificateOptions {
  readonly keyType: CaKeyType;
  /** The CA public key, SubjectPublicKeyInfo DER. */
  readonly spkiDer: Uint8Array;
  readonly subject: CaSubject;
  /** Lifetime in seconds; default {@linkcode CA_VALIDITY_SECS}. */
  readonly validitySecs?: number;
  /** Signs with the CA's own private key. */
  readonly sign: TbsSigner;
  readonly now?: Date;
}

/** Builds and self-signs a CA certificate; returns its DER. */
export function createCaCertificate(options: CaCertificateOptions): Promise<Uint8Array> {
  const tbs = buildCaTbs({
    keyType: options.keyType,
    spkiDer: options.spkiDer,
    subject: options.subject,
    validitySecs: options.validitySecs ?? CA_VALIDITY_SECS,
    now: options.now,
  });
  return signCertificate(tbs.der, options.keyType, options.sign);
}

/** Options for {@linkcode issueLeafCertificate}. */
export interface LeafCertificateOptions {
  readonly issuer: CaIdentity;
  readonly issuerKeyType: CaKeyType;
  /** A checked request (profile.ts `checkLeafRequest`). */
  readonly profile: LeafProfile;
  /** Signs with the issuing CA's private key. */
  readonly sign: TbsSigner;
  readonly now?: Date;
}

/** A signed leaf and its private key. */
export interface LeafCertificate {
  readonly certDer: Uint8Array;
  /** PKCS#8 DER; the caller wipes it. */
  readonly privateKeyPkcs8: SecretBytes;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Generates a P-256 leaf key and a certificate for it signed by `issuer`. */
export async function issueLeafCertificate(
  options: LeafCertificateOptions,
): Promise<LeafCertificate> {
  const key = await generateLeafKey();
  try {
    const tbs = buildLeafTbs({
      issuer: options.issuer,
      issuerKeyType: options.issuerKeyType,
      spkiDer: key.spkiDer,
      profile: options.profile,
      now: options.now,
    });
    const certDer = await signCertificate(tbs.der, options.issuerKeyType, options.sign);
    return {
      certDer,
      privateKeyPkcs8: key.privateKeyPkcs8,
      notBefore: tbs.notBefore,
      notAfter: tbs.notAfter,
    };
  } catch (e) {
    key.privateKeyPkcs8.wipe();
    throw e;
  }
}
