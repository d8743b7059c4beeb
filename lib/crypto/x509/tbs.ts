/**
 * TBSCertificate builders (RFC 5280 §4.1) for a self-signed CA and for
 * leaves (X509-SVID or TLS profile), encoded with @peculiar/asn1-x509.
 *
 * Every certificate:
 * - v3, a random 16-byte positive serial (≥ 120 bits from the CSPRNG, first
 *   byte non-zero so the DER INTEGER is exactly 16 bytes);
 * - validity in whole seconds: notBefore = now − 60 s (clock skew), notAfter
 *   = now + lifetime; UTCTime through 2049, GeneralizedTime after (§4.1.2.5);
 * - SubjectKeyIdentifier = SHA-1 of the subjectPublicKey BIT STRING value
 *   (§4.2.1.2 method 1) and AuthorityKeyIdentifier = the issuer's SKI (the
 *   own SKI for a self-signed CA);
 * - the TBS `signature` field = the issuer key type's algorithm (sign.ts).
 *
 * CA: subject `CN=<name>, serialNumber=<certificate serial, decimal>` (the
 * serialNumber attribute makes each CA version's name unique, so chain
 * building never has to tell two same-named CAs apart), basicConstraints
 * CA:TRUE pathLen:0 (critical), keyUsage keyCertSign + cRLSign (critical),
 * and the URI SAN (the trust domain ID for a SPIFFE CA) when given.
 *
 * Leaf: basicConstraints CA:FALSE (critical), keyUsage digitalSignature
 * (critical; plus keyEncipherment for the TLS profile), EKU serverAuth +
 * clientAuth, SAN of URI, DNS and IP names — critical when the subject is
 * empty (§4.2.1.6). Its validity is clipped to the issuer's.
 * @module
 */

import { createHash } from "node:crypto";
import { BasilError } from "../../core/errors.ts";
import { toHex } from "../../core/encoding.ts";
import {
  AsnConvert,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  OctetString,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "./asn1.ts";
import { ipBytesToText } from "./names.ts";
import type { CaSubject, LeafProfile } from "./profile.ts";
import { type CaKeyType, signatureAlgorithm } from "./sign.ts";

/** Clock-skew allowance subtracted from notBefore. */
export const CLOCK_SKEW_SECS = 60;
/** Serial number length in bytes. */
export const SERIAL_BYTES = 16;

const OID_COMMON_NAME = "2.5.4.3";
const OID_SERIAL_NUMBER = "2.5.4.5";

/** Extension values every leaf of a profile shares, encoded once. */
const LEAF_BASIC_CONSTRAINTS = encode(new BasicConstraints({ cA: false }));
const SVID_KEY_USAGE = encode(new KeyUsage(KeyUsageFlags.digitalSignature));
const TLS_KEY_USAGE = encode(
  new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment),
);
const LEAF_EXT_KEY_USAGE = encode(new ExtendedKeyUsage([id_kp_serverAuth, id_kp_clientAuth]));
const CA_BASIC_CONSTRAINTS = encode(new BasicConstraints({ cA: true, pathLenConstraint: 0 }));
const CA_KEY_USAGE = encode(new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign));

/** Issuer names decoded once per CA identity's `subjectDer` buffer. */
const ISSUER_NAMES = new WeakMap<Uint8Array, Name>();

/** What a leaf needs of its issuing CA certificate (see parse.ts `caCertificateInfo`). */
export interface CaIdentity {
  /** The CA certificate's subject `Name`, DER. */
  readonly subjectDer: Uint8Array;
  /** The CA's SubjectKeyIdentifier. */
  readonly ski: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** An encoded TBSCertificate and what it says. */
export interface BuiltTbs {
  readonly der: Uint8Array;
  /** The serial number's DER INTEGER content bytes. */
  readonly serial: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject key identifier. */
  readonly ski: Uint8Array;
}

/** Options for {@linkcode buildCaTbs}. */
export interface CaTbsOptions {
  /** The CA key type (self-signed: it also signs). */
  readonly keyType: CaKeyType;
  /** The CA public key, SubjectPublicKeyInfo DER. */
  readonly spkiDer: Uint8Array;
  readonly subject: CaSubject;
  /** Lifetime in seconds from `now`. */
  readonly validitySecs: number;
  readonly now?: Date;
}

/** Options for {@linkcode buildLeafTbs}. */
export interface LeafTbsOptions {
  readonly issuer: CaIdentity;
  /** The issuing CA's key type (decides the signature algorithm). */
  readonly issuerKeyType: CaKeyType;
  /** The leaf public key, SubjectPublicKeyInfo DER. */
  readonly spkiDer: Uint8Array;
  readonly profile: LeafProfile;
  readonly now?: Date;
}

/** The TBSCertificate of a self-signed CA certificate. */
export function buildCaTbs(options: CaTbsOptions): BuiltTbs {
  const spki = parseSpki(options.spkiDer);
  const ski = keyIdentifier(spki);
  const serial = randomSerial();
  const now = seconds(options.now ?? new Date());
  const notBefore = new Date(now - CLOCK_SKEW_SECS * 1000);
  const notAfter = new Date(now + options.validitySecs * 1000);
  const name = new Name([
    rdn(OID_COMMON_NAME, new AttributeValue({ utf8String: options.subject.commonName })),
    rdn(OID_SERIAL_NUMBER, new AttributeValue({ printableString: serialDecimal(serial) })),
  ]);
  const extensions = [
    extension(id_ce_basicConstraints, true, CA_BASIC_CONSTRAINTS),
    extension(id_ce_keyUsage, true, CA_KEY_USAGE),
    extension(id_ce_subjectKeyIdentifier, false, encode(new SubjectKeyIdentifier(ski))),
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      encode(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ski) })),
    ),
  ];
  if (options.subject.uri !== undefined) {
    extensions.push(
      extension(
        id_ce_subjectAltName,
        false,
        encode(
          new SubjectAlternativeName([
            new GeneralName({ uniformResourceIdentifier: options.subject.uri }),
          ]),
        ),
      ),
    );
  }
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: arrayBuffer(serial),
    signature: signatureAlgorithm(options.keyType),
    issuer: name,
    validity: new Validity({ notBefore, notAfter }),
    subject: name,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  return { der: encode(tbs), serial, notBefore, notAfter, ski };
}

/**
 * The TBSCertificate of a leaf issued by `issuer`. Throws INTERNAL when the
 * issuer's validity has already ended (nothing valid could be issued).
 */
export function buildLeafTbs(options: LeafTbsOptions): BuiltTbs {
  const { profile, issuer } = options;
  const spki = parseSpki(options.spkiDer);
  const ski = keyIdentifier(spki);
  const serial = randomSerial();
  const now = seconds(options.now ?? new Date());
  const notBefore = new Date(Math.max(now - CLOCK_SKEW_SECS * 1000, issuer.notBefore.getTime()));
  const notAfter = new Date(Math.min(now + profile.ttlSecs * 1000, issuer.notAfter.getTime()));
  if (notAfter.getTime() <= notBefore.getTime() || notAfter.getTime() <= now) {
    throw new BasilError("INTERNAL", undefined, {
      detail: `the issuing CA certificate expired at ${issuer.notAfter.toISOString()}`,
    });
  }
  const subject = profile.commonName === undefined
    ? new Name()
    : new Name([rdn(OID_COMMON_NAME, new AttributeValue({ utf8String: profile.commonName }))]);
  const extensions = [
    extension(id_ce_basicConstraints, true, LEAF_BASIC_CONSTRAINTS),
    extension(id_ce_keyUsage, true, profile.svid ? SVID_KEY_USAGE : TLS_KEY_USAGE),
    extension(id_ce_extKeyUsage, false, LEAF_EXT_KEY_USAGE),
    extension(id_ce_subjectKeyIdentifier, false, encode(new SubjectKeyIdentifier(ski))),
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      encode(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.ski) })),
    ),
  ];
  const names = [
    ...profile.uriSans.map((u) => new GeneralName({ uniformResourceIdentifier: u })),
    ...profile.dnsSans.map((d) => new GeneralName({ dNSName: d })),
    ...profile.ipSans.map((ip) => new GeneralName({ iPAddress: ipBytesToText(ip) })),
  ];
  if (names.length > 0) {
    extensions.push(
      extension(
        id_ce_subjectAltName,
        subject.length === 0,
        encode(new SubjectAlternativeName(names)),
      ),
    );
  }
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: arrayBuffer(serial),
    signature: signatureAlgorithm(options.issuerKeyType),
    issuer: issuerName(issuer.subjectDer),
    validity: new Validity({ notBefore, notAfter }),
    subject,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  return { der: encode(tbs), serial, notBefore, notAfter, ski };
}

/** SHA-1 of a SubjectPublicKeyInfo's subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
export function keyIdentifierOfSpki(spkiDer: Uint8Array): Uint8Array {
  return keyIdentifier(parseSpki(spkiDer));
}

function keyIdentifier(spki: SubjectPublicKeyInfo): Uint8Array {
  return new Uint8Array(
    createHash("sha1").update(new Uint8Array(spki.subjectPublicKey)).digest(),
  );
}

function parseSpki(der: Uint8Array): SubjectPublicKeyInfo {
  try {
    return AsnConvert.parse(der, SubjectPublicKeyInfo);
  } catch {
    throw new BasilError("INTERNAL", undefined, {
      detail: "certificate public key is not a SubjectPublicKeyInfo",
    });
  }
}

function randomSerial(): Uint8Array {
  const serial = crypto.getRandomValues(new Uint8Array(SERIAL_BYTES));
  serial[0] = (serial[0]! & 0x7f) || 0x01;
  return serial;
}

function serialDecimal(serial: Uint8Array): string {
  return BigInt(`0x${toHex(serial)}`).toString(10);
}

function rdn(type: string, value: AttributeValue): RelativeDistinguishedName {
  return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
}

function extension(extnID: string, critical: boolean, value: Uint8Array): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(value) });
}

function issuerName(subjectDer: Uint8Array): Name {
  let name = ISSUER_NAMES.get(subjectDer);
  if (name === undefined) {
    name = AsnConvert.parse(subjectDer, Name);
    ISSUER_NAMES.set(subjectDer, name);
  }
  return name;
}

/** DER of an @peculiar/asn1-schema object. */
function encode(value: object): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(value));
}

/** Whole seconds: X.509 times carry no fraction. */
function seconds(d: Date): number {
  return Math.floor(d.getTime() / 1000) * 1000;
}

/** An `ArrayBuffer` holding exactly `bytes`. */
function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}
