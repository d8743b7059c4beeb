/**
 * What a catalog `path` names in AWS KMS (seed 004, contract §10): an alias
 * (`alias/…`), a key or alias ARN, or a bare key id (a UUID, or `mrk-…` for a
 * multi-Region key) are used as they are; any other string is a logical name,
 * resolved to the deterministic alias
 * `alias/basil/<slug>-<first 12 chars of base64url(sha256(path))>`, which is
 * what provisioning creates.
 *
 * Versions: KMS has no version counter, so Basil keeps one in the alias
 * namespace. The reference names the latest version; after a rotation the
 * older key of version `n` stays reachable as `<alias>/v<n>`. Only alias
 * references (given or generated) can rotate; ARNs and key ids are version 1.
 * @module
 */

import { createHash } from "node:crypto";
import { toBase64Url } from "../../core/encoding.ts";

/** A resolved key reference. */
export type KeyRef =
  | { readonly kind: "alias"; readonly id: string; readonly generated: boolean }
  | { readonly kind: "arn" | "key-id"; readonly id: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MRK = /^mrk-[0-9a-f]{32}$/i;
const ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)\/[A-Za-z0-9:/_-]+$/;
/** The longest slug kept (aliases are at most 256 characters). */
const MAX_SLUG = 64;

/** Resolves a catalog `path`. */
export function keyRef(path: string): KeyRef {
  if (path.startsWith("alias/")) return { kind: "alias", id: path, generated: false };
  if (ARN.test(path)) return { kind: "arn", id: path };
  if (UUID.test(path) || MRK.test(path)) return { kind: "key-id", id: path };
  return { kind: "alias", id: generatedAlias(path), generated: true };
}

/** `alias/basil/<slug>-<hash>` for a logical name. */
export function generatedAlias(path: string): string {
  const slug = path.toLowerCase().replace(/[^a-z0-9_]+/g, "-").replace(/^-+|-+$/g, "")
    .slice(0, MAX_SLUG).replace(/-+$/, "") || "key";
  const hash = toBase64Url(createHash("sha256").update(path, "utf8").digest()).slice(0, 12);
  return `alias/basil/${slug}-${hash}`;
}

/** The alias that keeps version `n` of an alias reference after a rotation. */
export function versionAlias(alias: string, n: number): string {
  return `${alias}/v${n}`;
}

const MARK = /^Basil key, version ([1-9][0-9]{0,8})(?::|$)/;

/** The description Basil writes on a key it creates. */
export function versionDescription(path: string, n: number): string {
  return `Basil key, version ${n}: ${path}`.slice(0, 8192);
}

/** The version a key's description records; 1 for a key Basil did not create. */
export function versionOf(description: string | undefined): number {
  const m = MARK.exec(description ?? "");
  return m ? Number(m[1]) : 1;
}
