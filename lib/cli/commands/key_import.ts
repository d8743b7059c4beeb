/**
 * Key import on the CLI side (`import`, `import-set`): reading private key
 * material, the local half of `--check`, and wiping.
 *
 * Invariants:
 * - Every buffer that holds key material (seed and PKCS#8 file contents, a
 *   decoded `--seed-hex`, the raw bytes of an import-set file) is zeroed
 *   once the command is done with it, on success and on every error path.
 *   JavaScript strings (a `seed_hex` value, the decoded JSON text) cannot be
 *   wiped; that is why files are preferred over hex.
 * - Neither command writes a file. (Should one ever do, it must be created
 *   0600 through `writeFileAtomic`.)
 * - `--check` first checks, locally and before anything is sent, that the
 *   material's key type is the expected one: `--key-type` when given, else
 *   the catalog key's `keyType` (as the agent lists it). After the import the
 *   agent must report the material's own public key and sign a challenge
 *   that verifies under it.
 * @module
 */

import { createPublicKey, type KeyObject } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { fromHex, fromUtf8, toHex } from "../../core/encoding.ts";
import { readSecretFile } from "../../core/fs.ts";
import { KEY_TYPES } from "../../core/ops.ts";
import type { KeyType } from "../../core/ops.ts";
import { timingSafeEqual } from "../../core/secret.ts";
import { verifyMessage } from "../../crypto/signing.ts";
import {
  keyMismatch,
  parsePkcs8,
  privateKeyFromStored,
  publicKeyFromPublicForm,
} from "../../crypto/signing_keys.ts";
import { isSigningKeyType, signingParams } from "../../crypto/signing_params.ts";
import type { SigningParams } from "../../crypto/signing_params.ts";
import { keyTypeFromWire, keyTypeToWire } from "../../service/enums.ts";
import {
  KeyType as WireKeyType,
  SecretService,
  SigningService,
} from "../../wire/basil/broker/v1/broker_pb.ts";
import type { ImportSetResponse, KeyMaterialSchema } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { withClient } from "../client.ts";

/** Key material as sent on the wire. */
export type Material = MessageInitShape<typeof KeyMaterialSchema>;

/** Where one key's material comes from: exactly one of these. */
export interface MaterialSource {
  seedHex?: string;
  seedFile?: string;
  pkcs8File?: string;
}

/** Reads one key's material; `warn` receives the argv warning for `--seed-hex`. */
export function readMaterial(o: MaterialSource, warn: (text: string) => void): Material {
  const given = [o.seedHex, o.seedFile, o.pkcs8File].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw new CliError("give exactly one of --seed-file, --pkcs8-file, --seed-hex", 2);
  }
  if (o.seedHex !== undefined) {
    warn("warning: --seed-hex puts key material in argv; prefer --seed-file\n");
    let seed: Uint8Array;
    try {
      seed = fromHex(o.seedHex);
    } catch {
      throw new CliError("--seed-hex must be 64 hex digits", 2);
    }
    return { material: { case: "ed25519Seed", value: seed } };
  }
  if (o.seedFile !== undefined) {
    const seed = readSecretFile(o.seedFile, { what: "seed-file", requireOwnerOnly: true }).expose();
    return { material: { case: "ed25519Seed", value: seed } };
  }
  const der = readSecretFile(o.pkcs8File!, { what: "pkcs8-file", requireOwnerOnly: true }).expose();
  return { material: { case: "pkcs8Der", value: der } };
}

/** Prints an imported or created key: `key_id: …` and `public_key: <hex>`. */
export function printKey(ctx: CliContext, keyId: string, publicKey: Uint8Array): void {
  ctx.io.out(`key_id: ${keyId}\npublic_key: ${toHex(publicKey)}\n`);
}

/** Zeroes a material's bytes. */
export function wipeMaterial(m: Material): void {
  const v = m.material?.value;
  if (v instanceof Uint8Array) v.fill(0);
}

/** The wire key type of `--key-type` (UNSPECIFIED: the catalog's). */
export function wireType(kt: KeyType | undefined): WireKeyType {
  if (kt === undefined) return WireKeyType.UNSPECIFIED;
  const w = keyTypeToWire(kt);
  if (w === WireKeyType.UNSPECIFIED) {
    throw new CliError(`--key-type ${kt} is not a signing key type`, 2);
  }
  return w;
}

/** The key type `--check` expects, and the field that named it (for errors). */
export interface Expected {
  readonly keyType: KeyType;
  /** E.g. `--key-type`, `the catalog keyType of sig.x`, `entry 2 key_type`. */
  readonly field: string;
}

/** What the local check learnt from the material: its public key, as SPKI DER. */
export interface CheckedMaterial {
  readonly keyType: KeyType;
  readonly spki: Uint8Array;
}

const CURVE_NAMES: Record<string, string> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
};

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ed25519":
      return "an Ed25519 key";
    case "ec":
      return `an ECDSA ${CURVE_NAMES[d.namedCurve ?? ""] ?? d.namedCurve ?? "?"} key`;
    case "rsa":
      return `an RSA-${d.modulusLength ?? "?"} key`;
    default:
      return `a ${key.asymmetricKeyType ?? "unknown"} key`;
  }
}

function failed(text: string): CliError {
  return new CliError(`check failed: ${text}`);
}

/**
 * The local half of `--check`, run before anything is sent: the material
 * must be of the expected key type. Throws a CliError naming the field the
 * expected type came from; returns the material's public key.
 */
export function checkMaterialType(material: Material, expected: Expected): CheckedMaterial {
  const kt = expected.keyType;
  if (!isSigningKeyType(kt)) {
    throw failed(`${expected.field} is ${kt}, which is not a signing key type`);
  }
  const params = signingParams(kt);
  const m = material.material;
  let key: KeyObject | undefined;
  if (m?.case === "ed25519Seed") {
    if (params.family !== "ed25519") {
      throw failed(`the key material is an Ed25519 seed, but ${expected.field} is ${kt}`);
    }
    key = privateKeyFromStored(params, m.value);
    if (key === undefined) throw failed("the Ed25519 seed must be exactly 32 bytes");
  } else if (m?.case === "pkcs8Der") {
    key = parsePkcs8(m.value);
    if (key === undefined) throw failed("the key material is not a valid PKCS#8 private key");
    const mismatch = keyMismatch(params, key);
    if (mismatch !== undefined) {
      throw failed(
        `the key material is ${describeKey(key)}, but ${expected.field} is ${kt} (${mismatch})`,
      );
    }
  } else {
    throw failed("no key material");
  }
  const spki = new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" }));
  return { keyType: kt, spki };
}

function paramsOf(kt: KeyType): SigningParams {
  if (!isSigningKeyType(kt)) throw failed(`${kt} is not a signing key type`);
  return signingParams(kt);
}

/**
 * The catalog keyType of `keyId` as the agent lists it to the caller; a
 * CliError when the key is not listed (not in the catalog, or not visible:
 * listing needs list, get or get_public_key).
 */
export async function catalogKeyType(ctx: CliContext, keyId: string): Promise<KeyType> {
  const entries = await withClient(
    ctx.socket(),
    (c) => c.stream(SecretService.method.listCatalog, { prefix: keyId }),
  );
  const e = entries.find((x) => x.name === keyId);
  const kt = e?.keyType === undefined ? undefined : keyTypeFromWire(e.keyType);
  if (kt === undefined) {
    throw new CliError(
      `--check: the catalog keyType of ${keyId} is not visible to you (listing needs list, ` +
        `get or get_public_key); give --key-type`,
    );
  }
  return kt;
}

/**
 * The remote half of `--check`, after the import: the agent's public key is
 * the material's own, and the agent signs a fresh challenge that verifies
 * under it.
 */
export async function checkImported(
  ctx: CliContext,
  keyId: string,
  publicKey: Uint8Array,
  local: CheckedMaterial,
): Promise<void> {
  // Both sides re-exported by node:crypto, so equal keys compare equal whatever
  // encoding details the backend's PEM used.
  const key = publicKeyFromPublicForm(paramsOf(local.keyType), publicKey);
  const reported = key && new Uint8Array(key.export({ format: "der", type: "spki" }));
  if (reported === undefined || !timingSafeEqual(reported, local.spki)) {
    throw failed(`the agent's public key for ${keyId} is not the imported material's`);
  }
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const sig = await withClient(
    ctx.socket(),
    (c) => c.unary(SigningService.method.sign, { keyId, message: challenge }),
  );
  if (!verifyMessage(local.keyType, publicKey, challenge, sig.signature)) {
    throw failed(`${keyId} did not sign a challenge with the imported key`);
  }
}

/** One entry of an import-set file, validated. */
export interface ImportSetEntry {
  readonly keyId: string;
  readonly keyType: KeyType;
  readonly material: Material;
}

/** What {@linkcode runImportSet} calls (replaceable in tests). */
export interface ImportSetDeps {
  readonly readMaterial?: (o: MaterialSource) => Material;
  readonly send?: (entries: readonly ImportSetEntry[]) => Promise<ImportSetResponse>;
  readonly check?: (keyId: string, publicKey: Uint8Array, local: CheckedMaterial) => Promise<void>;
}

function parseImportSetFile(path: string): unknown[] {
  let raw: Uint8Array;
  try {
    raw = Deno.readFileSync(path);
  } catch {
    throw new CliError(`--file ${path}: cannot read`);
  }
  try {
    // The file may hold seed_hex values: its bytes are key material.
    const parsed: unknown = JSON.parse(fromUtf8(raw));
    if (!Array.isArray(parsed)) throw new Error();
    return parsed;
  } catch {
    throw new CliError(`--file ${path}: expected a JSON array of entries`);
  } finally {
    raw.fill(0);
  }
}

/**
 * `import-set`: reads every entry's material, optionally checks each
 * locally, imports all or none, then checks each import. Every material
 * buffer read is wiped before this returns or throws.
 */
export async function runImportSet(
  ctx: CliContext,
  file: string,
  check: boolean,
  deps: ImportSetDeps = {},
): Promise<void> {
  const read = deps.readMaterial ?? ((o: MaterialSource) => readMaterial(o, () => {}));
  const send = deps.send ??
    ((entries: readonly ImportSetEntry[]) =>
      withClient(ctx.socket(), (c) =>
        c.unary(SigningService.method.importSet, {
          entries: entries.map((e) => ({
            keyId: e.keyId,
            keyType: wireType(e.keyType),
            material: e.material,
          })),
        })));
  const checkOne = deps.check ??
    ((keyId: string, publicKey: Uint8Array, local: CheckedMaterial) =>
      checkImported(ctx, keyId, publicKey, local));
  const raw = parseImportSetFile(file);
  const entries: ImportSetEntry[] = [];
  try {
    const locals: CheckedMaterial[] = [];
    for (const [i, item] of raw.entries()) {
      const e = (typeof item === "object" && item !== null ? item : {}) as Record<string, unknown>;
      if (typeof e.key_id !== "string") throw new CliError(`--file entry ${i}: key_id is required`);
      const kt = (e.key_type ?? "ed25519") as KeyType;
      if (!KEY_TYPES.includes(kt)) throw new CliError(`--file entry ${i}: unknown key_type`);
      wireType(kt); // refuse a non-signing type before any material is read
      const str = (v: unknown) => (typeof v === "string" ? v : undefined);
      const material = read({
        seedHex: str(e.seed_hex),
        seedFile: str(e.seed_file),
        pkcs8File: str(e.pkcs8_file),
      });
      entries.push({ keyId: e.key_id, keyType: kt, material });
      if (check) {
        const field = e.key_type === undefined
          ? `entry ${i} key_type (default ed25519)`
          : `entry ${i} key_type`;
        locals.push(checkMaterialType(material, { keyType: kt, field }));
      }
    }
    const r = await send(entries);
    for (const [i, k] of r.keys.entries()) {
      printKey(ctx, k.keyId, k.publicKey);
      if (check) {
        await checkOne(k.keyId, k.publicKey, locals[i]!);
        ctx.io.out("check: ok\n");
      }
    }
  } finally {
    for (const e of entries) wipeMaterial(e.material);
  }
}
