/**
 * basil.broker.v1.AeadService: Encrypt/Decrypt and X25519 or ML-KEM
 * WrapEnvelope/UnwrapEnvelope. The API takes no nonce: the broker owns it.
 * Request plaintexts are wiped when the handler ends, early rejections
 * included; response plaintexts once the response is serialized.
 * @module
 */

import { BasilError, invalidRequest } from "../core/errors.ts";
import { decrypt, encrypt, unsealCose, unwrapEnvelope, wrapEnvelope } from "../broker/aead.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { AeadService, EnvelopeAlgorithm, KemAlgorithm } from "../wire/basil/broker/v1/broker_pb.ts";
import { aeadFromWire, aeadToWire } from "./enums.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";
import { requireField, requireKnown } from "./wire_args.ts";

const ENV_ALGS = EnvelopeAlgorithm as unknown as Record<string, string | number>;
const KEM_ALGS = KemAlgorithm as unknown as Record<string, string | number>;

/** KEM wire values and the key types they name. */
const KEM_NAMES: ReadonlyMap<KemAlgorithm, string> = new Map([
  [KemAlgorithm.X25519, "x25519"],
  [KemAlgorithm.ML_KEM_512, "ml-kem-512"],
  [KemAlgorithm.ML_KEM_768, "ml-kem-768"],
  [KemAlgorithm.ML_KEM_1024, "ml-kem-1024"],
]);

function kemToWire(name: string | undefined): KemAlgorithm {
  for (const [wire, n] of KEM_NAMES) if (n === (name ?? "x25519")) return wire;
  throw new BasilError("INTERNAL", undefined, { detail: `no wire KEM for ${name}` });
}

/**
 * WrapEnvelope's algorithm fields: undeclared or UNSPECIFIED values are
 * INVALID_ARGUMENT naming the field. The broker checks that the KEM is the
 * key's type (X25519 or ML-KEM).
 */
function checkWrapAlgorithms(kem: KemAlgorithm, envelope: EnvelopeAlgorithm): void {
  requireKnown(KEM_ALGS, kem, "kem_algorithm", "wrap_envelope");
  if (kem === KemAlgorithm.UNSPECIFIED) {
    throw invalidRequest("kem_algorithm is required", "wrap_envelope");
  }
  requireKnown(ENV_ALGS, envelope, "envelope_algorithm", "wrap_envelope");
  if (envelope === EnvelopeAlgorithm.UNSPECIFIED) {
    throw invalidRequest("envelope_algorithm is required", "wrap_envelope");
  }
}

/** The AeadService binding. */
export function aeadService(deps: BrokerDeps): ServiceBinding {
  return bindBrokerService(deps, AeadService, {
    async encrypt(req, ctx) {
      try {
        const alg = aeadFromWire(req.algorithm);
        if (!alg) {
          throw invalidRequest("algorithm must be AES_256_GCM or CHACHA20_POLY1305", "encrypt");
        }
        const env = await encrypt(
          deps,
          ctx.call,
          requireField(req.keyId, "key_id", "encrypt"),
          alg,
          req.plaintext,
          req.aad,
        );
        return {
          envelope: {
            alg: aeadToWire(env.alg),
            keyVersion: env.version,
            nonce: env.nonce,
            ciphertext: env.ciphertext,
          },
        };
      } finally {
        req.plaintext.fill(0);
      }
    },
    async decrypt(req, ctx) {
      const id = requireField(req.keyId, "key_id", "decrypt");
      if (!req.envelope) throw invalidRequest("envelope is required", "decrypt");
      const e = req.envelope;
      const plaintext = await decrypt(deps, ctx.call, id, aeadFromWire(e.alg), {
        version: e.keyVersion,
        nonce: e.nonce,
        ciphertext: e.ciphertext,
      }, req.aad);
      ctx.defer(() => plaintext.fill(0));
      return { plaintext };
    },
    async wrapEnvelope(req, ctx) {
      try {
        const id = requireField(req.keyId, "key_id", "wrap_envelope");
        checkWrapAlgorithms(req.kemAlgorithm, req.envelopeAlgorithm);
        const kem = KEM_NAMES.get(req.kemAlgorithm)!;
        const box = await wrapEnvelope(deps, ctx.call, id, req.plaintext, req.aad, kem);
        return {
          envelope: {
            kemAlgorithm: kemToWire(box.kem),
            // Echoed as the contract says; the boxes are always ChaCha20-Poly1305.
            envelopeAlgorithm: req.envelopeAlgorithm,
            keyVersion: box.version,
            encapsulatedKey: box.encapsulatedKey,
            nonce: box.nonce,
            ciphertext: box.ciphertext,
          },
        };
      } finally {
        req.plaintext.fill(0);
      }
    },
    async unwrapEnvelope(req, ctx) {
      const id = requireField(req.keyId, "key_id", "unwrap_envelope");
      if (!req.envelope) throw invalidRequest("envelope is required", "unwrap_envelope");
      const e = req.envelope;
      const plaintext = await unwrapEnvelope(deps, ctx.call, id, {
        version: e.keyVersion,
        encapsulatedKey: e.encapsulatedKey,
        nonce: e.nonce,
        ciphertext: e.ciphertext,
        x25519: e.kemAlgorithm === KemAlgorithm.X25519,
        kem: e.kemAlgorithm === KemAlgorithm.X25519 ? undefined : KEM_NAMES.get(e.kemAlgorithm),
      }, req.aad);
      ctx.defer(() => plaintext.fill(0));
      return { plaintext };
    },
    async unsealCose(req, ctx) {
      const id = requireField(req.keyId, "key_id", "unseal_cose");
      const plaintext = await unsealCose(deps, ctx.call, id, req.coseEncrypt, req.externalAad);
      ctx.defer(() => plaintext.fill(0));
      return { plaintext };
    },
  });
}
