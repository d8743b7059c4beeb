/**
 * Minimal certificate parsing (with @peculiar/asn1-x509): the fields Basil
 * reads back — validity, names, key identifiers, CA flag, public key. No
 * signature or chain verification happens here.
 * @module
 */

import { BasilError } from "../../core/errors.ts";
import {
  AsnConvert,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  type Name,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
} from "./asn1.ts";
import { parseSpiffeId } from "./names.ts";
import type { CaIdentity } from "./tbs.ts";

const OID_COMMON_NAME = "2.5.4.3";

/** What {@linkcode parseCertificate} reads. */
export interface ParsedCertificate {
  readonly der: Uint8Array;
  /** The serial number's INTEGER content bytes. */
  readonly serial: Uint8Array;
  /** The outer signature algorithm OID. */
  readonly signatureAlgorithm: string;
  /** Issuer and subject `Name`s, DER. */
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** The subject's first common name. */
  readonly subjectCommonName: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  readonly spkiDer: Uint8Array;
  /** basicConstraints cA. */
  readonly isCa: boolean;
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** IP SANs as text (dotted quad, compressed IPv6). */
  readonly ipSans: readonly string[];
  /** Whether the SAN extension is marked critical. */
  readonly sanCritical: boolean;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
}

/** A CA certificate as an issuer: {@linkcode CaIdentity} plus its names. */
export interface CaCertificateInfo extends CaIdentity {
  readonly der: Uint8Array;
  readonly commonName: string | undefined;
  /** The first URI SAN. */
  readonly uri: string | undefined;
  /** The trust domain when the URI SAN is a SPIFFE ID. */
  readonly trustDomain: string | undefined;
}

/**
 * Parses a DER certificate. Throws INVALID_REQUEST "not a valid X.509
 * certificate" when the bytes are not one.
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch {
    throw new BasilError("INVALID_REQUEST", "not a valid X.509 certificate");
  }
  const tbs = cert.tbsCertificate;
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  const ipSans: string[] = [];
  let sanCritical = false;
  let isCa = false;
  let subjectKeyId: Uint8Array | undefined;
  let authorityKeyId: Uint8Array | undefined;
  try {
    for (const ext of tbs.extensions ?? []) {
      const value = ext.extnValue.buffer;
      switch (ext.extnID) {
        case id_ce_subjectAltName:
          sanCritical = ext.critical;
          for (const n of AsnConvert.parse(value, SubjectAlternativeName)) {
            if (n.uniformResourceIdentifier !== undefined) {
              uriSans.push(n.uniformResourceIdentifier);
            }
            if (n.dNSName !== undefined) dnsSans.push(n.dNSName);
            if (n.iPAddress !== undefined) ipSans.push(n.iPAddress);
          }
          break;
        case id_ce_basicConstraints:
          isCa = AsnConvert.parse(value, BasicConstraints).cA;
          break;
        case id_ce_subjectKeyIdentifier:
          subjectKeyId = new Uint8Array(AsnConvert.parse(value, SubjectKeyIdentifier).buffer);
          break;
        case id_ce_authorityKeyIdentifier: {
          const kid = AsnConvert.parse(value, AuthorityKeyIdentifier).keyIdentifier;
          if (kid !== undefined) authorityKeyId = new Uint8Array(kid.buffer);
          break;
        }
      }
    }
  } catch {
    throw new BasilError("INVALID_REQUEST", "not a valid X.509 certificate");
  }
  return {
    der,
    serial: new Uint8Array(tbs.serialNumber),
    signatureAlgorithm: cert.signatureAlgorithm.algorithm,
    issuerDer: new Uint8Array(AsnConvert.serialize(tbs.issuer)),
    subjectDer: new Uint8Array(AsnConvert.serialize(tbs.subject)),
    subjectCommonName: commonNameOf(tbs.subject),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    spkiDer: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
    isCa,
    uriSans,
    dnsSans,
    ipSans,
    sanCritical,
    subjectKeyId,
    authorityKeyId,
  };
}

/**
 * A parsed CA certificate as an issuer. Throws INVALID_REQUEST when it is
 * not a CA (basicConstraints cA) or has no SubjectKeyIdentifier.
 */
export function caCertificateInfo(cert: ParsedCertificate): CaCertificateInfo {
  if (!cert.isCa) throw new BasilError("INVALID_REQUEST", "the certificate is not a CA");
  if (cert.subjectKeyId === undefined) {
    throw new BasilError("INVALID_REQUEST", "the CA certificate has no subject key identifier");
  }
  const uri = cert.uriSans[0];
  return {
    der: cert.der,
    subjectDer: cert.subjectDer,
    ski: cert.subjectKeyId,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    commonName: cert.subjectCommonName,
    uri,
    trustDomain: uri === undefined ? undefined : parseSpiffeId(uri)?.trustDomain,
  };
}

function commonNameOf(name: Name): string | undefined {
  for (const rdn of name) {
    for (const atv of rdn) {
      if (atv.type === OID_COMMON_NAME) return atv.value.toString();
    }
  }
  return undefined;
}
