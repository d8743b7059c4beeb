/**
 * The Vault/OpenBao PKI engine (contract §10): a catalog `path` of the form
 * `<mount>/issue/<role>` issues leaves through that role; the CA key stays
 * in the backend. The issuer (CA) itself is the operator's: it is created,
 * rotated and configured in OpenBao/Vault, so `createCa`/`rotateCa` are
 * UNSUPPORTED here and the CA counts as one version.
 *
 * Invariants:
 * - Requests are checked before anything is sent (x509/profile.ts), so a
 *   bad request is INVALID_REQUEST naming the field, never a backend error.
 *   X.509-SVIDs ask for `uri_sans`; TLS leaves for `common_name`,
 *   `alt_names`, `ip_sans`. Always `format: "pem"`,
 *   `private_key_format: "pkcs8"`, `ttl: "<N>s"`.
 * - The issued leaf is parsed and checked: it must carry the requested SANs,
 *   and the private key must be a PKCS#8 block; anything else is
 *   BACKEND_ERROR. The leaf private key is read as bytes into SecretBytes.
 * - The existence probe reads the role (`GET <mount>/roles/<role>`).
 * - The trust bundle is `GET <mount>/ca_chain` (PEM, raw body).
 * @module
 */

import type { CertRequest, IssuedCert, PkiEngine, TransitKeyInfo } from "../backend.ts";
import { BasilError } from "../../core/errors.ts";
import type { KeyType } from "../../core/ops.ts";
import { SecretBytes } from "../../core/secret.ts";
import {
  checkLeafRequest,
  ipBytesToText,
  parseCertificate,
  pemToDers,
} from "../../crypto/x509/mod.ts";
import { type JsonValue, wipeJson } from "../../seal/json_bytes.ts";
import { JsonWriter } from "../../seal/json_writer.ts";
import type { VaultAuth } from "./auth.ts";
import { decodeBase64 } from "../../core/encoding.ts";
import { rejected, statusError } from "./errors.ts";
import { encodePath } from "./http.ts";
import { member, obj, str, strings, textBytes } from "./json.ts";

/** `<mount>/issue/<role>` split into its parts; INTERNAL if the path has another shape. */
export function pkiRole(path: string): { mount: string; role: string } {
  const at = path.lastIndexOf("/issue/");
  const mount = at > 0 ? path.slice(0, at) : "";
  const role = at > 0 ? path.slice(at + "/issue/".length) : "";
  if (mount === "" || role === "" || role.includes("/")) {
    throw new BasilError("INTERNAL", undefined, {
      detail: `pki path ${path} is not <mount>/issue/<role>`,
    });
  }
  return { mount, role };
}

const ROLE_KEY_TYPES: Record<string, KeyType> = {
  "ec:256": "ecdsa-p256",
  "ec:384": "ecdsa-p384",
  "ec:521": "ecdsa-p521",
  "rsa:2048": "rsa-2048",
  "ed25519:0": "ed25519",
};

/** Creates the pki engine of one vault backend. */
export function createVaultPki(auth: VaultAuth): PkiEngine {
  return {
    async info(path: string): Promise<TransitKeyInfo | undefined> {
      const { mount, role } = pkiRole(path);
      const reply = await auth.send({
        method: "GET",
        path: `${encodePath(mount)}/roles/${encodePath(role)}`,
      });
      try {
        if (reply.status === 404) return undefined;
        if (reply.status !== 200) {
          throw statusError(`read pki role ${path}`, reply.status, reply.errors);
        }
        const data = obj(member(reply.json, "data"), "data");
        const kt = member(data, "key_type");
        const bits = member(data, "key_bits");
        const name = `${kt === undefined ? "ec" : str(kt, "data.key_type")}:${
          typeof bits === "number" && kt !== undefined && str(kt, "data.key_type") !== "ed25519"
            ? bits
            : 0
        }`;
        // The leaf key type the role issues (the CA's key type is the backend's business).
        return { keyType: ROLE_KEY_TYPES[name] ?? "ecdsa-p256", latest: 1, minAvailable: 1 };
      } finally {
        wipe(reply.json);
      }
    },

    createCa(path: string): Promise<void> {
      return Promise.reject(
        new BasilError(
          "UNSUPPORTED",
          "vault pki issuers and roles are provisioned in the backend",
          {
            detail: `pki ${path}: create the role and its issuer in OpenBao/Vault`,
          },
        ),
      );
    },

    rotateCa(path: string): Promise<number> {
      return Promise.reject(
        new BasilError("UNSUPPORTED", "rotate the vault pki issuer in the backend", {
          detail: `pki ${path}: rotate the issuer in OpenBao/Vault`,
        }),
      );
    },

    async caCertificates(path: string): Promise<Uint8Array[]> {
      const { mount } = pkiRole(path);
      const reply = await auth.send({
        method: "GET",
        path: `${encodePath(mount)}/ca_chain`,
        raw: true,
      });
      if (reply.status === 204) return [];
      if (reply.status !== 200) {
        throw statusError(`read ${mount}/ca_chain`, reply.status, reply.errors);
      }
      try {
        return pemToDers(new TextDecoder("utf-8", { fatal: true }).decode(reply.raw));
      } catch {
        throw rejected(`vault ${mount}/ca_chain: not PEM certificates`);
      }
    },

    async issue(path: string, _keyType: KeyType, req: CertRequest): Promise<IssuedCert> {
      const profile = checkLeafRequest(req);
      const { mount, role } = pkiRole(path);
      const ips = profile.ipSans.map(ipBytesToText);
      const body = JsonWriter.build((w) => {
        w.raw("{");
        if (profile.commonName !== undefined) {
          w.raw('"common_name":').str(profile.commonName).raw(",");
        }
        if (profile.dnsSans.length > 0) {
          w.raw('"alt_names":').str(profile.dnsSans.join(",")).raw(",");
        }
        if (ips.length > 0) w.raw('"ip_sans":').str(ips.join(",")).raw(",");
        if (profile.uriSans.length > 0) {
          w.raw('"uri_sans":').str(profile.uriSans.join(",")).raw(",");
        }
        w.raw(`"ttl":"${profile.ttlSecs}s","format":"pem","private_key_format":"pkcs8"}`);
      });
      const reply = await auth.send({
        method: "POST",
        path: `${encodePath(mount)}/issue/${encodePath(role)}`,
        body,
      });
      try {
        if (reply.status !== 200) {
          throw statusError(`pki issue ${path}`, reply.status, reply.errors);
        }
        const data = obj(member(reply.json, "data"), "data");
        const leafDer = onePem(
          str(member(data, "certificate"), "data.certificate"),
          "data.certificate",
        );
        const leaf = parseOrReject(leafDer, "data.certificate");
        for (const want of profile.uriSans) {
          if (!leaf.uriSans.includes(want)) {
            throw rejected(`vault pki issue ${path}: leaf lacks URI SAN`);
          }
        }
        for (const want of profile.dnsSans) {
          if (!leaf.dnsSans.includes(want)) {
            throw rejected(`vault pki issue ${path}: leaf lacks DNS SAN`);
          }
        }
        const chainPems = strings(member(data, "ca_chain"), "data.ca_chain");
        const caChainDer = chainPems.length > 0
          ? chainPems.flatMap((p, i) => pemCerts(p, `data.ca_chain[${i}]`))
          : pemCerts(str(member(data, "issuing_ca"), "data.issuing_ca"), "data.issuing_ca");
        const keyType = member(data, "private_key_type");
        if (keyType !== undefined) str(keyType, "data.private_key_type");
        const privateKeyPkcs8 = pemPrivateKey(
          textBytes(member(data, "private_key"), "data.private_key"),
        );
        return {
          chainDer: [leafDer],
          privateKeyPkcs8,
          caChainDer,
          notBefore: leaf.notBefore,
          notAfter: leaf.notAfter,
        };
      } finally {
        wipe(reply.json);
      }
    },
  };
}

function pemCerts(text: string, where: string): Uint8Array[] {
  let ders: Uint8Array[];
  try {
    ders = pemToDers(text);
  } catch {
    throw rejected(`vault response: ${where} is not PEM`);
  }
  if (ders.length === 0) throw rejected(`vault response: ${where} holds no certificate`);
  for (const d of ders) parseOrReject(d, where);
  return ders;
}

function onePem(text: string, where: string): Uint8Array {
  const ders = pemCerts(text, where);
  if (ders.length !== 1) {
    throw rejected(`vault response: ${where} holds ${ders.length} certificates`);
  }
  return ders[0]!;
}

function parseOrReject(der: Uint8Array, where: string): ReturnType<typeof parseCertificate> {
  try {
    return parseCertificate(der);
  } catch {
    throw rejected(`vault response: ${where} is not an X.509 certificate`);
  }
}

const BEGIN = new TextEncoder().encode("-----BEGIN PRIVATE KEY-----");
const END = new TextEncoder().encode("-----END PRIVATE KEY-----");

/** One PEM `PRIVATE KEY` block (PKCS#8) decoded without making a string. */
function pemPrivateKey(pem: Uint8Array): SecretBytes {
  const start = indexOf(pem, BEGIN, 0);
  const stop = start < 0 ? -1 : indexOf(pem, END, start + BEGIN.length);
  if (start < 0 || stop < 0) {
    throw rejected("vault response: data.private_key is not a PKCS#8 PEM block");
  }
  const body = new Uint8Array(stop - start);
  let n = 0;
  for (let i = start + BEGIN.length; i < stop; i++) {
    const c = pem[i]!;
    if (c !== 0x0a && c !== 0x0d && c !== 0x20 && c !== 0x09) body[n++] = c;
  }
  const der = decodeBase64(body.subarray(0, n));
  body.fill(0);
  if (der === undefined || der.length === 0) {
    throw rejected("vault response: data.private_key is not base64");
  }
  return new SecretBytes(der);
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

function wipe(json: JsonValue | undefined): void {
  if (json !== undefined) wipeJson(json);
}
