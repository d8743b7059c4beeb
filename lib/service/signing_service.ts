/**
 * basil.broker.v1.SigningService: wire ↔ broker for keys used in place.
 * Imported key material is wiped once the call is done.
 * @module
 */

import type { ImportMaterial } from "../backends/backend.ts";
import { invalidRequest } from "../core/errors.ts";
import { SecretBytes } from "../core/secret.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { getPublicKey, importKeys, newKey, sign, verify } from "../broker/signing.ts";
import type { ImportRequestItem } from "../broker/signing.ts";
import {
  KeyType as WireKeyType,
  SigningAlgorithm,
  SigningService,
} from "../wire/basil/broker/v1/broker_pb.ts";
import type { KeyMaterial } from "../wire/basil/broker/v1/broker_pb.ts";
import { keyTypeToWire } from "./enums.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";
import { optionalKeyType, requireField, requireKnown } from "./wire_args.ts";

const ALGS = SigningAlgorithm as unknown as Record<string, string | number>;

function material(m: KeyMaterial | undefined, op: string): ImportMaterial {
  switch (m?.material.case) {
    case "ed25519Seed":
      return { kind: "ed25519-seed", seed: SecretBytes.copyOf(m.material.value) };
    case "pkcs8Der":
      return { kind: "pkcs8", der: SecretBytes.copyOf(m.material.value) };
    default:
      throw invalidRequest("material is required (ed25519_seed or pkcs8_der)", op);
  }
}

function wipeItems(items: readonly ImportRequestItem[]): void {
  for (const i of items) (i.material.kind === "pkcs8" ? i.material.der : i.material.seed).wipe();
}

function wipeWire(m: KeyMaterial | undefined): void {
  if (m?.material.case !== undefined) m.material.value.fill(0);
}

/** The SigningService binding. */
export function signingService(deps: BrokerDeps): ServiceBinding {
  const importAll = async (
    entries: { keyId: string; keyType: WireKeyType; material?: KeyMaterial }[],
    call: BrokerCall,
  ) => {
    const items: ImportRequestItem[] = [];
    try {
      for (const e of entries) {
        items.push({
          keyId: requireField(e.keyId, "key_id", "import"),
          keyType: optionalKeyType(e.keyType, "import"),
          material: material(e.material, "import"),
        });
      }
      return await importKeys(deps, call, items);
    } finally {
      wipeItems(items);
      for (const e of entries) wipeWire(e.material);
    }
  };
  return bindBrokerService(deps, SigningService, {
    async newKey(req, ctx) {
      const r = await newKey(
        deps,
        ctx.call,
        requireField(req.keyId, "key_id", "new_key"),
        optionalKeyType(req.keyType, "new_key"),
      );
      return { keyId: r.keyId, publicKey: r.publicKey };
    },
    async import(req, ctx) {
      const [r] = await importAll([req], ctx.call);
      return { keyId: r!.keyId, publicKey: r!.publicKey };
    },
    async importSet(req, ctx) {
      const rs = await importAll(req.entries, ctx.call);
      return { keys: rs.map((r) => ({ keyId: r.keyId, publicKey: r.publicKey })) };
    },
    async sign(req, ctx) {
      requireKnown(ALGS, req.algorithm, "algorithm", "sign");
      return {
        signature: await sign(
          deps,
          ctx.call,
          requireField(req.keyId, "key_id", "sign"),
          req.message,
        ),
      };
    },
    async verify(req, ctx) {
      requireKnown(ALGS, req.algorithm, "algorithm", "verify");
      const valid = await verify(
        deps,
        ctx.call,
        requireField(req.keyId, "key_id", "verify"),
        req.message,
        req.signature,
      );
      return { valid };
    },
    async getPublicKey(req, ctx) {
      const id = requireField(req.keyId, "key_id", "get_public_key");
      const r = await getPublicKey(deps, ctx.call, id, req.version);
      return {
        keyId: id,
        keyType: r.keyType === undefined ? WireKeyType.UNSPECIFIED : keyTypeToWire(r.keyType),
        publicKey: r.publicKey,
        version: r.version,
      };
    },
  });
}
