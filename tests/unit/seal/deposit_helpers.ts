/**
 * Builders for deposit tests: a bundle with an ingest key and allow-listed
 * contributors, and signed records appended to it.
 * @module
 */

import { toBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { x25519Generate } from "../../../lib/crypto/x25519_seal.ts";
import { createBundle } from "../../../lib/seal/bundle.ts";
import type { BackendCred } from "../../../lib/seal/creds.ts";
import { contributorPublicKey, newSeed } from "../../../lib/seal/deposits/keys.ts";
import { makeDeposit } from "../../../lib/seal/deposits/record.ts";
import { decodeBundle, type DecodedBundle, type DepositRecord } from "../../../lib/seal/format.ts";
import type { DepositMaterial } from "../../../lib/seal/payload.ts";
import { CANARY, FAST, passMethod } from "./helpers.ts";

/** A contributor's key pair. */
export interface Contributor {
  readonly id: string;
  readonly seed: Uint8Array;
  readonly token: string;
}

/** A contributor with a fresh seed. */
export function contributor(id: string): Contributor {
  const seed = newSeed().expose();
  return { id, seed, token: toBase64Url(contributorPublicKey(seed)) };
}

/** A deposit test world: bundle bytes, the ingest public key, contributors. */
export interface World {
  bytes: Uint8Array;
  bundle: DecodedBundle;
  ingestPublic: Uint8Array;
  alice: Contributor;
  bob: Contributor;
}

/** A VaultToken credential. */
export function token(text: string): BackendCred {
  return { type: "VaultToken", token: new SecretBytes(utf8(text)) };
}

/**
 * A bundle (passphrase CANARY.passphrase) with backend `bao`, an ingest key,
 * alice allowed for bao+gcp1 and bob for bao.
 */
export async function world(o: { ingest?: boolean } = {}): Promise<World> {
  const alice = contributor("alice");
  const bob = contributor("bob");
  const pair = x25519Generate();
  const deposit: DepositMaterial = {
    contributors: new Map([
      ["alice", { public_key: alice.token, allowed_backend_ids: ["bao", "gcp1"] }],
      ["bob", { public_key: bob.token, allowed_backend_ids: ["bao"] }],
    ]),
    ...(o.ingest === false ? {} : { ingestPrivateKey: pair.privateKey }),
  };
  const bytes = await createBundle({
    slots: [{ method: passMethod(CANARY.passphrase), label: "passphrase" }],
    backends: new Map([["bao", token(CANARY.token)]]),
    deposit,
    argon2: FAST,
  });
  return { bytes, bundle: decodeBundle(bytes, "/b"), ingestPublic: pair.publicKey, alice, bob };
}

/** A signed record from `who` for `backendId`. */
export function record(
  w: World,
  who: Contributor,
  backendId: string,
  seq: number,
  cred: BackendCred,
  o: { epoch?: number; contributorKeyId?: string } = {},
): DepositRecord {
  return makeDeposit(
    {
      bundleId: w.bundle.header.bundle_id,
      epoch: o.epoch ?? w.bundle.header.epoch,
      backendId,
      seq,
      contributorKeyId: o.contributorKeyId ?? who.id,
    },
    cred,
    w.ingestPublic,
    who.seed,
  );
}

/** `w.bundle` with `records` as its deposit log. */
export function withDeposits(w: World, records: DepositRecord[]): DecodedBundle {
  return { ...w.bundle, deposits: records };
}
