/**
 * The double's PKI engine, after OpenBao's builtin/logical/pki: one issuer
 * per mount (`root/generate/internal`), roles (`roles/<name>`), `issue/<role>`
 * with the role's name, IP-SAN, URI-SAN, CN and TTL rules, `ca_chain` and
 * `ca/pem` as raw PEM bodies, `crl/pem`. Certificates are real (CA key in
 * node:crypto, X.509 built with Basil's own encoder); leaves are EC P-256,
 * so roles must ask for `key_type = "ec"` with 256 bits (the double says so
 * with a 400 otherwise).
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from "node:crypto";
import {
  caCertificateInfo,
  checkCaSubject,
  checkLeafRequest,
  createCaCertificate,
  derToPem,
  issueLeafCertificate,
  parseCertificate,
} from "../../../lib/crypto/x509/mod.ts";
import { bad, Fields, ok, type Reply, unsupported } from "./reply.ts";

interface Role {
  allowedDomains: string[];
  allowSubdomains: boolean;
  allowBareDomains: boolean;
  allowAnyName: boolean;
  allowIpSans: boolean;
  allowedUriSans: string[];
  requireCn: boolean;
  maxTtl: number;
  ttl: number;
  keyType: string;
  keyBits: number;
}

/** One PKI mount. */
export class PkiMount {
  readonly roles = new Map<string, Role>();
  #ca: { key: KeyObject; der: Uint8Array; pem: string } | undefined;
  issued = 0;

  async handle(rest: string, method: string, f: Fields): Promise<Reply> {
    if (rest === "ca_chain" || rest === "cert/ca_chain" || rest === "ca/pem") {
      if (method !== "GET") return unsupported();
      if (this.#ca === undefined) {
        return { kind: "raw", status: 204, contentType: "application/pkix-cert", body: "" };
      }
      return {
        kind: "raw",
        status: 200,
        contentType: "application/pkix-cert",
        body: this.#ca.pem.trim(),
      };
    }
    if (rest === "crl/pem") {
      return { kind: "raw", status: 200, contentType: "application/pkix-crl", body: "" };
    }
    if (rest === "root/generate/internal" || rest === "root/generate/exported") {
      if (method !== "POST" && method !== "PUT") return unsupported();
      return await this.#generateRoot(f);
    }
    const rm = /^roles\/([^/]+)$/.exec(rest);
    if (rm) return this.#role(rm[1]!, method, f);
    const im = /^issue\/([^/]+)$/.exec(rest);
    if (im) {
      if (method !== "POST" && method !== "PUT") return unsupported();
      return await this.#issue(im[1]!, f);
    }
    return {
      kind: "error",
      status: 404,
      errors: [`no handler for route "pki/${rest}". route entry not found.`],
    };
  }

  async #generateRoot(f: Fields): Promise<Reply> {
    const cn = f.str("common_name");
    if (cn === "") return bad("the 'common_name' field must be provided");
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const der = await createCaCertificate({
      keyType: "ecdsa-p256",
      spkiDer: new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" })),
      subject: checkCaSubject({ commonName: cn }),
      validitySecs: f.secs("ttl", 10 * 365 * 24 * 3600),
      sign: (tbs) =>
        Promise.resolve(new Uint8Array(sign("sha256", tbs, { key, dsaEncoding: "ieee-p1363" }))),
    });
    const pem = derToPem(der, "CERTIFICATE");
    this.#ca = { key, der, pem };
    const parsed = parseCertificate(der);
    return ok({
      certificate: pem.trim(),
      issuing_ca: pem.trim(),
      serial_number: serialText(parsed.serial),
      expiration: Math.floor(parsed.notAfter.getTime() / 1000),
      issuer_id: crypto.randomUUID(),
      issuer_name: "",
      key_id: crypto.randomUUID(),
      key_name: "",
    });
  }

  #role(name: string, method: string, f: Fields): Reply {
    if (method === "GET") {
      const r = this.roles.get(name);
      if (r === undefined) return { kind: "notFound" };
      return ok({
        allowed_domains: r.allowedDomains,
        allow_subdomains: r.allowSubdomains,
        allow_bare_domains: r.allowBareDomains,
        allow_any_name: r.allowAnyName,
        allow_ip_sans: r.allowIpSans,
        allowed_uri_sans: r.allowedUriSans,
        require_cn: r.requireCn,
        max_ttl: r.maxTtl,
        ttl: r.ttl,
        key_type: r.keyType,
        key_bits: r.keyBits,
        generate_lease: false,
        no_store: false,
      });
    }
    if (method === "DELETE") {
      this.roles.delete(name);
      return { kind: "empty" };
    }
    if (method !== "POST" && method !== "PUT") return unsupported();
    const keyType = f.str("key_type", "rsa");
    const keyBits = f.int("key_bits", keyType === "rsa" ? 2048 : keyType === "ec" ? 256 : 0);
    if (keyType !== "ec" || keyBits !== 256) {
      return bad("the vault double issues EC P-256 leaves only: set key_type=ec, key_bits=256");
    }
    this.roles.set(name, {
      allowedDomains: f.list("allowed_domains"),
      allowSubdomains: f.bool("allow_subdomains"),
      allowBareDomains: f.bool("allow_bare_domains"),
      allowAnyName: f.bool("allow_any_name"),
      allowIpSans: f.bool("allow_ip_sans", true),
      allowedUriSans: f.list("allowed_uri_sans"),
      requireCn: f.bool("require_cn", true),
      maxTtl: f.secs("max_ttl"),
      ttl: f.secs("ttl"),
      keyType,
      keyBits,
    });
    return { kind: "empty" };
  }

  async #issue(roleName: string, f: Fields): Promise<Reply> {
    const role = this.roles.get(roleName);
    if (role === undefined) return bad(`unknown role: ${roleName}`);
    if (this.#ca === undefined) return bad("no default issuer currently configured");
    const format = f.str("format", "pem");
    if (!["pem", "der", "pem_bundle"].includes(format)) {
      return bad(`the "format" path parameter must be "pem", "der", or "pem_bundle"`);
    }
    if (format !== "pem") return bad("the double answers format=pem only");
    const cn = f.str("common_name");
    if (cn === "" && role.requireCn) {
      return bad(
        `the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false`,
      );
    }
    const dns = f.list("alt_names");
    const names = [...(cn === "" ? [] : [cn]), ...dns];
    for (const n of names) {
      if (!nameAllowed(role, n)) return bad(`common name ${n} not allowed by this role`);
    }
    const ips = f.list("ip_sans");
    if (ips.length > 0 && !role.allowIpSans) {
      return bad(
        "IP Subject Alternative Names are not allowed in this role, but was provided " +
          ips.join(","),
      );
    }
    const uris = f.list("uri_sans");
    for (const u of uris) {
      if (!role.allowedUriSans.some((g) => globMatch(g, u))) {
        return bad(
          `URI Subject Alternative Names are not allowed in this role, but were provided ${u}`,
        );
      }
    }
    let ttl = f.secs("ttl", role.ttl > 0 ? role.ttl : 30 * 24 * 3600);
    const warnings: string[] = [];
    if (role.maxTtl > 0 && ttl > role.maxTtl) {
      warnings.push(
        `TTL "${ttl}s" is longer than permitted maxTTL "${role.maxTtl}s", so maxTTL is being used`,
      );
      ttl = role.maxTtl;
    }
    let profile;
    try {
      profile = checkLeafRequest({
        commonName: cn === "" ? undefined : cn,
        dnsSans: dns,
        ipSans: ips,
        uriSans: uris,
        ttlSecs: ttl,
        svid: uris.some((u) => u.startsWith("spiffe://")),
      });
    } catch (e) {
      return bad(e instanceof Error ? e.message : "invalid request");
    }
    const ca = this.#ca;
    const leaf = await issueLeafCertificate({
      issuer: caCertificateInfo(parseCertificate(ca.der)),
      issuerKeyType: "ecdsa-p256",
      profile,
      sign: (tbs) =>
        Promise.resolve(
          new Uint8Array(sign("sha256", tbs, { key: ca.key, dsaEncoding: "ieee-p1363" })),
        ),
    });
    this.issued++;
    const parsed = parseCertificate(leaf.certDer);
    const pkcs8 = f.str("private_key_format") === "pkcs8";
    const k = createPrivateKey({
      key: Buffer.from(leaf.privateKeyPkcs8.expose()),
      format: "der",
      type: "pkcs8",
    });
    leaf.privateKeyPkcs8.wipe();
    const keyPem =
      (pkcs8
        ? k.export({ type: "pkcs8", format: "pem" })
        : k.export({ type: "sec1", format: "pem" })) as string;
    return ok({
      certificate: derToPem(leaf.certDer, "CERTIFICATE").trim(),
      issuing_ca: ca.pem.trim(),
      ca_chain: [ca.pem.trim()],
      private_key: keyPem.trim(),
      private_key_type: "ec",
      serial_number: serialText(parsed.serial),
      expiration: Math.floor(parsed.notAfter.getTime() / 1000),
      not_before: Math.floor(parsed.notBefore.getTime() / 1000),
    }, warnings);
  }
}

function nameAllowed(role: Role, name: string): boolean {
  if (role.allowAnyName) return true;
  return role.allowedDomains.some((d) =>
    (role.allowBareDomains && name === d) ||
    (role.allowSubdomains && name.endsWith(`.${d}`)) ||
    (d.includes("*") && globMatch(d, name))
  );
}

function globMatch(glob: string, s: string): boolean {
  const re = new RegExp(
    `^${glob.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
  );
  return re.test(s);
}

function serialText(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}
