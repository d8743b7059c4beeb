/**
 * Builds SDS DiscoveryResponses: each resource an `Any` holding an Envoy
 * `Secret`, certificates and keys as inline PEM bytes. The key's PEM and the
 * encoded secrets are secret material: {@linkcode SdsResponse.wipe} zeroes
 * them once the response has been encoded for the wire.
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { base64Ascii, concat, utf8 } from "../core/encoding.ts";
import type { DiscoveryResponseSchema } from "../wire/envoy/service/discovery/v3/discovery_pb.ts";
import { SecretSchema } from "../wire/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type { SdsResource } from "./sds.ts";
import { SDS_VERSION, SECRET_TYPE_URL } from "./sds.ts";
import type { ServedSvid } from "./svid_source.ts";

/** A response and the secret buffers it references. */
export interface SdsResponse {
  readonly message: MessageInitShape<typeof DiscoveryResponseSchema>;
  /** Zeroes the key PEMs and encoded secrets (call once the message is encoded). */
  wipe(): void;
}

/** Splits concatenated DER objects (each a definite-length SEQUENCE). */
export function splitDer(blob: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < blob.length) {
    if (blob[i] !== 0x30 || i + 2 > blob.length) throw new SyntaxError("not a DER sequence");
    const n = blob[i + 1]!;
    let len = n;
    let hdr = 2;
    if (n >= 0x80) {
      const k = n & 0x7f;
      if (k === 0 || k > 4 || i + 2 + k > blob.length) throw new SyntaxError("bad DER length");
      len = 0;
      for (let j = 0; j < k; j++) len = len * 256 + blob[i + 2 + j]!;
      hdr = 2 + k;
    }
    if (i + hdr + len > blob.length) throw new SyntaxError("truncated DER");
    out.push(blob.subarray(i, i + hdr + len));
    i += hdr + len;
  }
  return out;
}

/** One PEM block as bytes (no JavaScript string holds the body). */
export function pemBytes(der: Uint8Array, label: string): Uint8Array {
  const b64 = base64Ascii(der);
  const lines: Uint8Array[] = [utf8(`-----BEGIN ${label}-----\n`)];
  const nl = utf8("\n");
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.subarray(i, i + 64), nl);
  lines.push(utf8(`-----END ${label}-----\n`));
  const out = concat(...lines);
  b64.fill(0);
  return out;
}

function certsPem(blob: Uint8Array): Uint8Array {
  return concat(...splitDer(blob).map((c) => pemBytes(c, "CERTIFICATE")));
}

/**
 * The response for `resources`: certificates from `svids` (by resource
 * name), validation contexts from `bundles` (DER per `spiffe://<td>`).
 * A trust domain without a bundle is FAILED_PRECONDITION-worthy: the caller
 * checks first with {@linkcode missingBundle}.
 */
export function sdsResponse(
  resources: readonly SdsResource[],
  svids: ReadonlyMap<string, ServedSvid>,
  bundles: ReadonlyMap<string, Uint8Array>,
  nonce: string,
): SdsResponse {
  const secrets: Uint8Array[] = [];
  const anys = resources.map((r) => {
    let value: Uint8Array;
    if (r.kind === "certificate") {
      const svid = svids.get(r.name);
      if (!svid) throw new Error("no SVID for an authorized SDS resource");
      const key = pemBytes(svid.keyPkcs8, "PRIVATE KEY");
      secrets.push(key);
      value = toBinary(
        SecretSchema,
        create(SecretSchema, {
          name: r.name,
          type: {
            case: "tlsCertificate",
            value: {
              certificateChain: {
                specifier: { case: "inlineBytes", value: certsPem(svid.chainDer) },
              },
              privateKey: { specifier: { case: "inlineBytes", value: key } },
            },
          },
        }),
      );
      secrets.push(value);
    } else {
      const bundle = bundles.get(`spiffe://${r.trustDomain}`) ?? new Uint8Array();
      value = toBinary(
        SecretSchema,
        create(SecretSchema, {
          name: r.name,
          type: {
            case: "validationContext",
            value: { trustedCa: { specifier: { case: "inlineBytes", value: certsPem(bundle) } } },
          },
        }),
      );
    }
    return create(AnySchema, { typeUrl: SECRET_TYPE_URL, value });
  });
  return {
    message: { versionInfo: SDS_VERSION, typeUrl: SECRET_TYPE_URL, nonce, resources: anys },
    wipe: () => {
      for (const s of secrets) s.fill(0);
    },
  };
}

/** The first validation resource whose trust domain has no bundle, if any. */
export function missingBundle(
  resources: readonly SdsResource[],
  bundles: ReadonlyMap<string, Uint8Array>,
): string | undefined {
  for (const r of resources) {
    if (r.kind !== "validation") continue;
    const b = bundles.get(`spiffe://${r.trustDomain}`);
    if (!b || b.length === 0) return r.name;
  }
  return undefined;
}
