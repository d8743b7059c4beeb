/**
 * Authorization and the issuer key of the NATS path. Each NatsService RPC
 * is one policy decision on its catalog key, recorded on the request (so
 * one audit record per decision, written by lib/broker/call.ts):
 * MintNats* = `mint`, SignNatsJwt = `sign_nats_jwt`, ValidateNatsJwt =
 * `validate_nats_jwt` per catalog-key candidate, Encrypt/DecryptNatsCurve =
 * `encrypt_nats_curve` / `decrypt_nats_curve`.
 *
 * This is the one path on which `mint` on an operator or account key is
 * honoured: the generic key-addressed path (lib/broker/authorize.ts) denies
 * it (`issuer_protocol_only`) and the PDP denies raw `sign`
 * (`issuer_raw_sign`), so issuer keys sign only NATS JWTs built here.
 * @module
 */

import type { Authorized } from "../broker/authorize.ts";
import { checkKeyId, denyUnresolved, recordDecision, resolveCaller } from "../broker/authorize.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { infoOf, transitOf } from "../broker/keys.ts";
import { BasilError, invalidRequest, unauthorized } from "../core/errors.ts";
import type { KeyOp } from "../core/ops.ts";
import { decide } from "../policy/pdp.ts";
import { encodePublicNkey } from "./nkey.ts";
import type { IssuerRole } from "./roles.ts";
import { issuerRoleOf } from "./roles.ts";

/**
 * Authorizes `op` on `keyName` with the PDP, records the decision, and
 * returns the key, or throws UNAUTHORIZED (op = the RPC's `errorOp`).
 */
export function authorizeNats(
  deps: BrokerDeps,
  call: BrokerCall,
  op: KeyOp,
  keyName: string,
  errorOp: string,
  field = "key_id",
): Authorized {
  checkKeyId(keyName, field, errorOp);
  const caller = resolveCaller(deps, call);
  if (!caller.resolution.ok) denyUnresolved(deps, caller, op, keyName);
  const subject = caller.resolution.subject;
  const d = decide(caller.gen.catalog, caller.gen.policy, subject, op, keyName);
  recordDecision(deps, caller, op, keyName, d.allow, d.allow ? d.via : d.reason);
  if (!d.allow) throw unauthorized(errorOp, d.reason);
  const key = caller.gen.catalog.keys.get(keyName)!;
  const backend = deps.backends.get(key.backend);
  if (!backend) {
    throw new BasilError("INTERNAL", undefined, {
      op: errorOp,
      detail: `no backend ${key.backend}`,
    });
  }
  return { gen: caller.gen, subject, key, backend };
}

/** An authorized NKey issuer, ready to sign. */
export interface NatsIssuer {
  readonly role: IssuerRole;
  /** The issuer's public NKey (the JWT's `iss`). */
  readonly publicNkey: string;
  /** Signs a JWT signing input in place (the seed never leaves the backend). */
  sign(input: Uint8Array): Promise<Uint8Array>;
}

/**
 * The issuer behind an authorized key: an `asymmetric` `ed25519-nkey`
 * transit key labelled `nats_type=O` or `A`; anything else is
 * INVALID_REQUEST naming the key (the caller was already authorized, so
 * this is no oracle).
 */
export async function issuerOf(a: Authorized, op: string): Promise<NatsIssuer> {
  const role = issuerRoleOf(a.key.labelMap.get("nats_type"));
  if (a.key.class !== "asymmetric" || a.key.keyType !== "ed25519-nkey") {
    throw invalidRequest(`${a.key.name} is not an ed25519-nkey signing key`, op);
  }
  if (!role) {
    throw invalidRequest(
      `${a.key.name} is not a NATS issuer: its nats_type label must be O or A`,
      op,
    );
  }
  const t = transitOf(a, op);
  const info = await infoOf(t, a.key, op);
  const pub = await t.publicKey(a.key.path, "ed25519-nkey", info.latest);
  if (pub.length !== 32) {
    throw new BasilError("INTERNAL", undefined, { op, detail: "ed25519-nkey public key size" });
  }
  return {
    role,
    publicNkey: encodePublicNkey(role, pub),
    sign: (input) => t.sign(a.key.path, "ed25519-nkey", input, info.latest),
  };
}
