/**
 * X.509 certificate building for CAs used in place: request checks
 * (profile.ts), TBSCertificate builders (tbs.ts), signing and assembly
 * through a signer callback (sign.ts), end-to-end issuance (issue.ts),
 * P-256 leaf keys (leaf_key.ts), PEM (pem.ts) and minimal parsing
 * (parse.ts). DER encoding is @peculiar/asn1-x509 (asn1.ts).
 * @module
 */

export {
  CA_VALIDITY_SECS,
  type CaCertificateOptions,
  createCaCertificate,
  issueLeafCertificate,
  type LeafCertificate,
  type LeafCertificateOptions,
} from "./issue.ts";
export { generateLeafKey, type LeafKeyPair } from "./leaf_key.ts";
export {
  ipBytesToText,
  isCommonName,
  isDnsName,
  isTlsCommonName,
  isUri,
  MAX_TLS_COMMON_NAME_BYTES,
  parseIpAddress,
  parseSpiffeId,
  type SpiffeIdParts,
} from "./names.ts";
export {
  type CaCertificateInfo,
  caCertificateInfo,
  parseCertificate,
  type ParsedCertificate,
} from "./parse.ts";
export { CERTIFICATE_LABEL, dersToPem, derToPem, pemToDers } from "./pem.ts";
export {
  type CaSubject,
  type CaSubjectRequest,
  checkCaSubject,
  checkLeafRequest,
  type LeafProfile,
  type LeafRequest,
  MAX_SANS_PER_KIND,
} from "./profile.ts";
export {
  CA_KEY_TYPES,
  type CaKeyType,
  isCaKeyType,
  requireCaKeyType,
  signatureAlgorithm,
  signatureAlgorithmDer,
  signCertificate,
  type TbsSigner,
  x509SignatureValue,
} from "./sign.ts";
export {
  buildCaTbs,
  buildLeafTbs,
  type BuiltTbs,
  type CaIdentity,
  type CaTbsOptions,
  CLOCK_SKEW_SECS,
  keyIdentifierOfSpki,
  type LeafTbsOptions,
  SERIAL_BYTES,
} from "./tbs.ts";
