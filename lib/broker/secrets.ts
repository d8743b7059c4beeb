/**
 * SecretService operations (Tier 1): get, set and rotate values, and list
 * the catalog entries a caller may see. Values are read into `SecretBytes`
 * and handed back to the service layer, which wipes them after encoding.
 * @module
 */

import { BasilError, invalidRequest, KEY_NOT_FOUND_MESSAGE } from "../core/errors.ts";
import type { KeyClass, KeyType } from "../core/ops.ts";
import type { SecretBytes } from "../core/secret.ts";
import { generateValue } from "../crypto/recipes.ts";
import { decide } from "../policy/pdp.ts";
import { authorizeKey, checkKeyPrefix, recordDecision, resolveCaller } from "./authorize.ts";
import type { Authorized } from "./authorize.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import { cap, keyTypeOf, requireClass, transitOf, withKeyLock } from "./keys.ts";
import { isMlDsa, isMlKem, pqcRotate } from "./pqc.ts";

/** A fetched value. The caller wipes `value`. */
export interface SecretValue {
  readonly value: SecretBytes;
  readonly version: number;
}

function kvOf(a: Authorized, op: string) {
  const kv = a.backend.kv;
  if (!kv) {
    throw new BasilError("UNSUPPORTED", `backend ${a.backend.name} stores no values`, { op });
  }
  return kv;
}

/** GetSecret: a value or public key's bytes at `version` (latest if undefined). */
export async function getSecret(
  deps: BrokerDeps,
  call: BrokerCall,
  id: string,
  version: number | undefined,
): Promise<SecretValue> {
  const a = authorizeKey(deps, call, "get", id, "secret_id");
  requireClass(a.key, ["value", "public"], "get");
  if (version === 0) throw invalidRequest("version must be at least 1", "get");
  const got = await kvOf(a, "get").read(a.key.path, version);
  if (!got) {
    throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, {
      op: "get",
      detail: `${id} has no stored ${version === undefined ? "value" : `version ${version}`}`,
    });
  }
  return got;
}

/** SetSecret: stores caller-supplied bytes as a new version of a value key. */
export async function setSecret(
  deps: BrokerDeps,
  call: BrokerCall,
  id: string,
  value: Uint8Array,
): Promise<number> {
  cap("value", value, deps.limits.maxPayloadSize, "set");
  const a = authorizeKey(deps, call, "set", id, "secret_id");
  requireClass(a.key, ["value"], "set");
  return await kvOf(a, "set").write(a.key.path, value);
}

/** RotateSecret: a value key with a generate recipe gets a fresh value. */
export async function rotateSecret(
  deps: BrokerDeps,
  call: BrokerCall,
  id: string,
): Promise<number> {
  const a = authorizeKey(deps, call, "rotate", id, "secret_id");
  if (a.key.class === "value" || a.key.class === "public") {
    if (!a.key.generate) {
      throw invalidRequest(
        `value key ${id} has no generate recipe; rotate via set instead`,
        "rotate",
      );
    }
    const fresh = await generateValue(a.key.generate);
    try {
      return await kvOf(a, "rotate").write(a.key.path, fresh.expose());
    } finally {
      fresh.wipe();
    }
  }
  const version = await rotateKey(deps, call, a);
  const at = deps.now();
  deps.events.publish({ kind: "key_rotated", at, keyId: id, newVersion: version });
  const td = a.key.labelMap.get("trust_domain");
  if (td !== undefined && a.key.labelMap.has("svid_kind")) {
    deps.events.publish({ kind: "bundle_changed", at, trustDomain: td });
  }
  return version;
}

/**
 * Rotates a pki CA, transit or software-custody ML-DSA key under the key's
 * lock (never interleaved with NewKey). kv2-held crypto keys, ML-KEM
 * included, are refused as the contract (§4.2) refuses them.
 */
async function rotateKey(deps: BrokerDeps, call: BrokerCall, a: Authorized): Promise<number> {
  const kt = keyTypeOf(a.key, "rotate");
  if (isMlDsa(kt)) return await pqcRotate(deps, call, a, kt);
  if (isMlKem(kt)) {
    throw invalidRequest(
      `${kt} sealing key ${a.key.name} cannot be rotated: kv2-held crypto keys are not rotated; ` +
        "declare a new sealing key and wrap to it",
      "rotate",
    );
  }
  const pki = a.backend.pki;
  if (a.key.engine === "pki" && pki) {
    return await withKeyLock(a.backend, a.key.path, () => pki.rotateCa(a.key.path, kt));
  }
  if (a.key.engine === "transit") {
    const t = transitOf(a, "rotate");
    return await withKeyLock(a.backend, a.key.path, () => t.rotate(a.key.path, kt));
  }
  throw invalidRequest(
    `${a.key.engine}-held ${a.key.class} keys are rotated by provisioning a new version`,
    "rotate",
  );
}

/** The wire's coarse catalog kind. */
export type EntryKind = "signing" | "value" | "encryption";

/** One visible catalog entry. */
export interface ListedEntry {
  readonly name: string;
  readonly kind: EntryKind;
  readonly keyType: KeyType | undefined;
  readonly latestVersion: number;
}

function kindOf(cls: KeyClass): EntryKind {
  if (cls === "value") return "value";
  if (cls === "asymmetric" || cls === "public") return "signing";
  return "encryption";
}

/**
 * ListCatalog: entries whose name starts with `prefix` and that the caller may
 * list, get_public_key or get. An unresolved caller sees an empty list. One
 * audit record summarizes the call.
 */
export async function listCatalog(
  deps: BrokerDeps,
  call: BrokerCall,
  prefix: string,
): Promise<ListedEntry[]> {
  checkKeyPrefix(prefix, "prefix", "list_catalog");
  const caller = resolveCaller(deps, call);
  const target = prefix === "" ? "*" : `${prefix}*`;
  const targetKind = "catalog";
  if (!caller.resolution.ok) {
    recordDecision(deps, caller, "list", target, false, caller.resolution.reason, { targetKind });
    return [];
  }
  const subject = caller.resolution.subject;
  const { catalog, policy } = caller.gen;
  const out: ListedEntry[] = [];
  for (const name of [...catalog.keys.keys()].sort()) {
    if (!name.startsWith(prefix)) continue;
    const visible = (["list", "get_public_key", "get"] as const).some((op) =>
      decide(catalog, policy, subject, op, name).allow
    );
    if (!visible) continue;
    const key = catalog.keys.get(name)!;
    let latest = 0;
    try {
      const b = deps.backends.get(key.backend);
      if (key.engine === "transit") latest = (await b?.transit?.info(key.path))?.latest ?? 0;
      else latest = (await b?.kv?.latestVersion(key.path)) ?? 0;
    } catch {
      latest = 0;
    }
    out.push({ name, kind: kindOf(key.class), keyType: key.keyType, latestVersion: latest });
  }
  recordDecision(deps, caller, "list", target, true, `listed:${out.length}`, { targetKind });
  return out;
}
