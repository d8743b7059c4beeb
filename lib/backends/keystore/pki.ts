/**
 * The keystore's pki engine: a certificate authority per catalog `path`,
 * its key used in place, stored as `key` entries next to transit keys.
 *
 * Storage (one sealed row per CA version, like a transit key version):
 * - `kind = key`, `path` = the catalog path (`pki…/issue/<role>`),
 *   `version` = the CA version (1, 2, … as transit keys count);
 * - `key_type` = the catalog keyType (ed25519, ecdsa-p256/384/521,
 *   rsa-2048), checked on every use;
 * - `sealed` = the CA private key in its transit stored form (Ed25519 seed,
 *   else PKCS#8 DER) under the DEK;
 * - `public` = that version's self-signed CA certificate, DER. Certificates
 *   are public, so the column is plaintext, but it is bound into the row's
 *   AAD: a swapped or edited certificate makes the row fail to open.
 * So key and certificate of a version are written in one row, atomically,
 * and `info`, versions and pruning behave exactly as for transit keys.
 *
 * Invariants:
 * - The CA private key never leaves: `issue` opens the latest version, signs
 *   the leaf's TBSCertificate with it (signing.ts, in place) and wipes it in
 *   `finally`. Only certificates and the fresh leaf key are returned.
 * - Requests are checked before any key is opened (x509/profile.ts);
 *   rejections are INVALID_REQUEST naming the field. An X509-SVID's SPIFFE
 *   ID must be in the CA's trust domain when the CA certificate names one.
 * - A stored key type other than the catalog's, an absent CA or a row
 *   whose `public` column is not a CA certificate is INTERNAL (the detail
 *   names path and version only).
 * - `createCa` writes version 1 of a new path only; `rotateCa` keeps the
 *   common name and URI of the latest version.
 * - Leaves are valid for `now − 60 s … now + ttl`, clipped to the CA's
 *   validity (x509/tbs.ts); CA certificates for 10 years.
 *
 * Parsed CA certificates are cached per path and version, and used only
 * while the row's certificate bytes are identical (the row is still read
 * and authenticated on every call).
 * @module
 */

import type { CertRequest, IssuedCert, PkiEngine, TransitKeyInfo } from "../backend.ts";
import { BasilError } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { timingSafeEqual } from "../../core/secret.ts";
import { generateSigningKey, publicKeyToSpkiDer, signMessageAsync } from "../../crypto/signing.ts";
import {
  type CaCertificateInfo,
  caCertificateInfo,
  type CaKeyType,
  type CaSubject,
  checkCaSubject,
  checkLeafRequest,
  createCaCertificate,
  issueLeafCertificate,
  parseCertificate,
  requireCaKeyType,
} from "../../crypto/x509/mod.ts";
import type { KeystoreStore, PublicEntry } from "./store.ts";
import { keyInfo, notFound, openVersion, typeMismatch } from "./transit.ts";

/** Parsed CA certificates kept in memory (path × version). */
const CA_CACHE_MAX = 64;

/** Creates the keystore pki engine over `store`'s `key` entries. */
export function createKeystorePki(store: KeystoreStore): PkiEngine {
  const cache = new Map<string, CaCertificateInfo>();

  /** The CA certificate of an opened version (cached by exact bytes). */
  function caOf(path: string, e: PublicEntry): CaCertificateInfo {
    const der = e.publicKey;
    const slot = `${e.version}\0${path}`;
    const hit = cache.get(slot);
    if (hit !== undefined && der !== undefined && timingSafeEqual(hit.der, der)) return hit;
    let ca: CaCertificateInfo;
    try {
      if (der === undefined) throw new Error("no certificate");
      ca = caCertificateInfo(parseCertificate(der.slice()));
    } catch {
      throw new BasilError("INTERNAL", undefined, {
        detail: `keystore pki ${path} v${e.version} holds no valid CA certificate`,
      });
    }
    cache.delete(slot);
    cache.set(slot, ca);
    if (cache.size > CA_CACHE_MAX) cache.delete(cache.keys().next().value!);
    return ca;
  }

  /** A fresh CA key and its self-signed certificate, written by `save` (insert or append). */
  async function newVersion(
    keyType: CaKeyType,
    subject: CaSubject,
    save: (secret: Uint8Array, cert: Uint8Array) => number,
  ): Promise<number> {
    const pair = generateSigningKey(keyType);
    try {
      const cert = await createCaCertificate({
        keyType,
        spkiDer: publicKeyToSpkiDer(keyType, pair.publicKey),
        subject,
        sign: (tbs) => signMessageAsync(keyType, pair.privateKey.expose(), tbs),
      });
      return save(pair.privateKey.expose(), cert);
    } finally {
      pair.privateKey.wipe();
    }
  }

  return {
    info(path: string): Promise<TransitKeyInfo | undefined> {
      return Promise.try(() => keyInfo(store, path));
    },

    async createCa(
      path: string,
      keyType: KeyType,
      subject: { commonName: string; uri?: string },
    ): Promise<void> {
      const kt = requireCaKeyType(keyType);
      const checked = checkCaSubject(subject);
      if (store.has("key", path)) throw alreadyExists(path);
      await newVersion(kt, checked, (secret, cert) => {
        store.insertNew("key", [{ path, secret, attrs: { keyType: kt, publicKey: cert } }]);
        return 1;
      });
    },

    async rotateCa(path: string, keyType: KeyType): Promise<number> {
      const kt = requireCaKeyType(keyType);
      const latest = openVersion(store, path, kt);
      latest.secret.wipe();
      const ca = caOf(path, latest);
      const subject = checkCaSubject({ commonName: ca.commonName ?? "Basil CA", uri: ca.uri });
      return await newVersion(
        kt,
        subject,
        (secret, cert) => store.append("key", path, secret, { keyType: kt, publicKey: cert }),
      );
    },

    caCertificates(
      path: string,
      keyType: KeyType,
      from: number,
      to: number,
    ): Promise<Uint8Array[]> {
      return Promise.try(() => {
        const kt = requireCaKeyType(keyType);
        if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to < from) {
          throw new BasilError("INTERNAL", undefined, {
            detail: `keystore pki ${path}: bad version range ${from}..${to}`,
          });
        }
        const range = store.versionRange("key", path);
        if (range === undefined) throw notFound(`keystore key ${path} is absent`);
        const out: Uint8Array[] = [];
        for (let v = Math.min(to, range.max); v >= Math.max(from, range.min); v--) {
          const e = store.readPublic("key", path, v);
          if (e === undefined) continue; // pruned meanwhile
          if (e.keyType !== kt) throw typeMismatch(path, e.keyType, kt);
          out.push(caOf(path, e).der.slice());
        }
        return out;
      });
    },

    async issue(path: string, keyType: KeyType, req: CertRequest): Promise<IssuedCert> {
      const kt = requireCaKeyType(keyType);
      const profile = checkLeafRequest(req);
      const e = openVersion(store, path, kt);
      try {
        const ca = caOf(path, e);
        const td = profile.spiffeId?.trustDomain;
        if (td !== undefined && ca.trustDomain !== undefined && td !== ca.trustDomain) {
          throw new BasilError(
            "INVALID_REQUEST",
            "uri_sans[0]: the SPIFFE ID is not in the CA's trust domain",
          );
        }
        const leaf = await issueLeafCertificate({
          issuer: ca,
          issuerKeyType: kt,
          profile,
          sign: (tbs) => signMessageAsync(kt, e.secret.expose(), tbs),
        });
        return {
          chainDer: [leaf.certDer],
          privateKeyPkcs8: leaf.privateKeyPkcs8,
          caChainDer: [ca.der.slice()],
          notBefore: leaf.notBefore,
          notAfter: leaf.notAfter,
        };
      } finally {
        e.secret.wipe();
      }
    },
  };
}

function alreadyExists(path: string): BasilError {
  return new BasilError("INVALID_REQUEST", "key already exists", {
    detail: `keystore key ${path} already exists`,
  });
}
