/**
 * Catalog loader (contract §2): JSON text in, a validated {@linkcode Catalog}
 * out, or an `InputError` naming the file, the field and the reason. Unknown
 * fields are rejected everywhere. Warnings (non-fatal findings) are returned.
 * @module
 */

import { z } from "zod";
import { fieldError, InputError } from "../core/errors.ts";
import {
  BACKEND_KINDS,
  ENGINES,
  isKeyName,
  KEY_CLASSES,
  KEY_TYPES,
  MAX_KEY_NAME_BYTES,
} from "../core/ops.ts";
import type { Engine, KeyClass, KeyType } from "../core/ops.ts";
import { formatPath, parseJsonText, parseOrThrow } from "../core/validate.ts";
import type {
  Catalog,
  CatalogBackend,
  CatalogKey,
  GenerateRecipe,
  MissingPolicy,
  SealingPin,
} from "./schema.ts";

const TOKEN = "catalog_invalid";

const Bytes = z.number().int().min(1).max(65536);
const Recipe = z.discriminatedUnion("format", [
  z.strictObject({ format: z.literal("ascii-printable"), bytes: Bytes }),
  z.strictObject({ format: z.literal("base64"), bytes: Bytes }),
  z.strictObject({ format: z.literal("hex"), bytes: Bytes }),
  z.strictObject({ format: z.literal("age-x25519") }),
  z.strictObject({
    format: z.literal("self-signed-tls"),
    commonName: z.string().min(1),
    validity: z.string().optional(),
  }),
  z.strictObject({ format: z.literal("self-signed-tls-pair-of"), pairOf: z.string().min(1) }),
]);

const Backend = z.strictObject({
  kind: z.enum(BACKEND_KINDS),
  addr: z.string(),
  engines: z.array(z.enum(ENGINES)).optional(),
  capabilities: z.array(z.string().min(1)).optional(),
  mintKeyTypes: z.array(z.enum(KEY_TYPES)).optional(),
  requires: z.array(z.string().min(1)).optional(),
});

const Key = z.strictObject({
  class: z.enum(KEY_CLASSES),
  keyType: z.enum(KEY_TYPES).optional(),
  backend: z.string(),
  engine: z.enum(ENGINES).optional(),
  path: z.string(),
  publicPath: z.string().optional(),
  writable: z.boolean(),
  missing: z.enum(["error", "warn", "generate"]).optional(),
  generate: Recipe.optional(),
  sealingPin: z.strictObject({
    parties: z.strictObject({ partyU: z.string().optional(), partyV: z.string().optional() })
      .optional(),
    externalAad: z.array(z.string()).optional(),
  }).optional(),
  labels: z.array(z.string()).optional(),
  description: z.string(),
});

const CatalogDoc = z.strictObject({
  schemaVersion: z.unknown(),
  backends: z.record(z.string(), Backend),
  keys: z.record(z.string(), Key),
});

const KNOWN_CAPABILITIES = new Set([
  "byok-import",
  "prehash-sign",
  "pqc-transit",
  "pki-crl",
  "jwt-auth",
  "approle-auth",
]);

const RESERVED_LABELS: Readonly<Record<string, (v: string) => boolean>> = {
  crypto_provider: (v) => v === "vault-transit" || v === "local-software",
  crypto_provider_version: (v) => v !== "",
  pqc_algorithm: (v) => /^(ml-dsa-(44|65|87)|ml-kem-(512|768|1024))$/.test(v),
  pqc_custody: (v) => v === "backend-native" || v === "software-encrypted",
  pqc_storage_key: (v) => v !== "",
  crypto_provider_policy: (v) =>
    v === "backend-preferred" || v === "backend-required" || v === "local-software",
  migration_target: (v) => v !== "",
  broker_key_use: (v) =>
    v === "response-signing" || v === "request-encryption" || v === "response-encryption",
};

/** Labels the broker acts on: each may be given at most once. */
const SINGLE_VALUED_LABELS: ReadonlySet<string> = new Set([
  "nats_type",
  "svid_kind",
  "trust_domain",
  "spiffe_id",
  "revocation_store",
  "envoy_sds_certificate_resource",
  "envoy_sds_validation_context_resource",
]);

const SYMMETRIC_TYPES: ReadonlySet<KeyType> = new Set(["aes-256-gcm", "chacha20-poly1305"]);
const SEALING_TYPES: ReadonlySet<KeyType> = new Set([
  "x25519",
  "ml-kem-512",
  "ml-kem-768",
  "ml-kem-1024",
]);
const JWT_SVID_TYPES: ReadonlySet<KeyType> = new Set(["rsa-2048", "ecdsa-p256", "ecdsa-p384"]);

/** The outcome of a successful load. */
export interface LoadedCatalog {
  catalog: Catalog;
  warnings: string[];
}

/** Parses and validates catalog JSON text. `file` is used in messages only. */
export function loadCatalog(text: string, file: string): LoadedCatalog {
  const raw = parseJsonText(text, file, TOKEN);
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    const sv = (raw as Record<string, unknown>).schemaVersion;
    if (sv !== 1) {
      throw fieldError(TOKEN, file, "schemaVersion", "unsupported value, must be 1");
    }
  }
  const doc = parseOrThrow(CatalogDoc, raw, file, TOKEN);
  const warnings: string[] = [];
  const err = (field: string, reason: string) => fieldError(TOKEN, file, field, reason);

  const backends = new Map<string, CatalogBackend>();
  for (const [name, b] of Object.entries(doc.backends)) {
    const f = formatPath(["backends", name]);
    if (name.trim() === "") throw err(f, "backend name must not be blank");
    if (b.kind === "vault" || b.kind === "keystore") {
      if (b.addr.trim() === "") throw err(`${f}.addr`, "must not be blank");
    }
    if (b.kind === "keystore" && !isUri(b.addr) && !b.addr.startsWith("/")) {
      // A db-keystore file. The contract does not say what a relative path is
      // relative to; the agent runs with / as its working directory and its
      // sandbox grants exact paths, so only an absolute path is unambiguous.
      throw err(
        `${f}.addr`,
        `the db-keystore file must be an absolute path (got ${JSON.stringify(b.addr)})`,
      );
    }
    for (const cap of b.capabilities ?? []) {
      if (!KNOWN_CAPABILITIES.has(cap)) {
        warnings.push(`${file}: ${f}.capabilities: unknown capability "${cap}" kept as opaque`);
      }
    }
    backends.set(name, {
      name,
      kind: b.kind,
      addr: b.addr,
      engines: b.engines ?? [],
      capabilities: b.capabilities ?? [],
      mintKeyTypes: b.mintKeyTypes ?? [],
      requires: b.requires ?? [],
    });
  }

  const keys = new Map<string, CatalogKey>();
  /** `backend\0path` -> the key that claimed it (no two keys share key material). */
  const locations = new Map<string, string>();
  for (const [name, k] of Object.entries(doc.keys)) {
    const f = formatPath(["keys", name]);
    if (!isKeyName(name)) {
      throw err(
        f,
        `bad key name: use dotted lowercase segments of [a-z0-9_] that start with [a-z0-9], at most ${MAX_KEY_NAME_BYTES} bytes`,
      );
    }
    if (!backends.has(k.backend)) {
      throw err(`${f}.backend`, `names no declared backend (${JSON.stringify(k.backend)})`);
    }
    if (k.description.trim() === "") throw err(`${f}.description`, "must not be blank");
    if (k.path.trim() === "") throw err(`${f}.path`, "must not be blank");
    const location = `${k.backend}\0${k.path}`;
    const owner = locations.get(location);
    if (owner !== undefined) {
      // Aliases would let one class's grants reach another class's key
      // material (e.g. a transit signing key over a PKI CA's path).
      throw err(
        `${f}.path`,
        `backend ${JSON.stringify(k.backend)} path ${JSON.stringify(k.path)} is already used by ` +
          `${formatPath(["keys", owner])}; two catalog keys must not share a backend path`,
      );
    }
    locations.set(location, name);
    const cls: KeyClass = k.class;
    checkKeyType(cls, k.keyType, `${f}.keyType`, err);
    const engine: Engine = k.engine ?? defaultEngine(cls);
    const missing: MissingPolicy = k.missing ?? "error";
    const recipe = k.generate as GenerateRecipe | undefined;
    if (recipe !== undefined && cls !== "value" && cls !== "public") {
      throw err(`${f}.generate`, "a generate recipe is only allowed on value and public keys");
    }
    if (missing === "generate" && (cls === "value" || cls === "public") && !recipe) {
      throw err(`${f}.generate`, "missing: generate on a value or public key needs a recipe");
    }
    if (engine === "pki") {
      if (cls !== "asymmetric" || !/^pki[^/]*\/issue\/[^/]+$/.test(k.path)) {
        throw err(
          `${f}.engine`,
          'engine "pki" needs class asymmetric and a path like "pki/issue/<role>"',
        );
      }
    }
    if (cls === "asymmetric" && engine === "kv2" && k.keyType !== "ed25519") {
      throw err(`${f}.keyType`, 'an asymmetric key held in kv2 must be "ed25519"');
    }
    const materialized = cls === "sealing" || (cls === "asymmetric" && engine === "kv2");
    if (materialized) {
      if (k.publicPath === undefined || k.publicPath.trim() === "") {
        throw err(`${f}.publicPath`, "required (non-blank) for a materialize-to-use key");
      }
    } else if (k.publicPath !== undefined) {
      throw err(`${f}.publicPath`, "only allowed on sealing keys and kv2-held asymmetric keys");
    }
    const sealingPin = checkSealingPin(cls, k.sealingPin, `${f}.sealingPin`, err);
    const labels = k.labels ?? [];
    const labelMap = checkLabels(labels, `${f}.labels`, err);
    if (labelMap.get("svid_kind") === "jwt" && (!k.keyType || !JWT_SVID_TYPES.has(k.keyType))) {
      throw err(
        `${f}.keyType`,
        'a svid_kind=jwt issuer must be "rsa-2048", "ecdsa-p256" or "ecdsa-p384"',
      );
    }
    if (k.keyType === "ed25519-nkey" && !/^[OAUNCX]$/.test(labelMap.get("nats_type") ?? "")) {
      warnings.push(`${file}: ${f}.labels: ed25519-nkey key without a valid nats_type label`);
    }
    keys.set(name, {
      name,
      class: cls,
      keyType: k.keyType,
      backend: k.backend,
      engine,
      path: k.path,
      publicPath: k.publicPath,
      writable: k.writable,
      missing,
      generate: recipe,
      sealingPin,
      labels,
      labelMap,
      description: k.description,
    });
  }
  return { catalog: { schemaVersion: 1, backends, keys }, warnings };
}

/** Whether a backend `addr` is a URI (`onepassword://…`) rather than a file path. */
function isUri(addr: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(addr);
}

function defaultEngine(cls: KeyClass): Engine {
  return cls === "asymmetric" || cls === "symmetric" ? "transit" : "kv2";
}

type Err = (field: string, reason: string) => InputError;

function checkKeyType(cls: KeyClass, kt: KeyType | undefined, f: string, err: Err): void {
  switch (cls) {
    case "value":
      if (kt !== undefined) throw err(f, "not allowed on a value key");
      return;
    case "public":
      return;
    case "asymmetric":
      if (kt === undefined) throw err(f, "required for an asymmetric key");
      if (SYMMETRIC_TYPES.has(kt) || SEALING_TYPES.has(kt)) {
        throw err(f, `"${kt}" is not a signing key type`);
      }
      return;
    case "symmetric":
      if (kt === undefined) throw err(f, "required for a symmetric key");
      if (!SYMMETRIC_TYPES.has(kt)) {
        throw err(f, 'a symmetric key must be "aes-256-gcm" or "chacha20-poly1305"');
      }
      return;
    case "sealing":
      if (kt === undefined) throw err(f, "required for a sealing key");
      if (!SEALING_TYPES.has(kt)) throw err(f, 'a sealing key must be "x25519" or "ml-kem-*"');
      return;
  }
}

function checkSealingPin(
  cls: KeyClass,
  pin: { parties?: { partyU?: string; partyV?: string }; externalAad?: string[] } | undefined,
  f: string,
  err: Err,
): SealingPin | undefined {
  if (pin === undefined) return undefined;
  if (cls !== "sealing") throw err(f, "only allowed on sealing keys");
  const hasParties = pin.parties !== undefined &&
    (pin.parties.partyU !== undefined || pin.parties.partyV !== undefined);
  if (!hasParties && (pin.externalAad ?? []).length === 0) throw err(f, "must not be empty");
  for (const p of ["partyU", "partyV"] as const) {
    if (pin.parties?.[p] !== undefined && pin.parties[p] === "") {
      throw err(`${f}.parties.${p}`, "must not be an empty string");
    }
  }
  return pin;
}

function checkLabels(labels: readonly string[], f: string, err: Err): Map<string, string> {
  const map = new Map<string, string>();
  labels.forEach((label, i) => {
    const eq = label.indexOf("=");
    if (eq < 0) {
      if (label in RESERVED_LABELS) throw err(`${f}[${i}]`, `reserved label must be "${label}=…"`);
      if (!/^[a-z0-9][a-z0-9_.-]*$/.test(label)) throw err(`${f}[${i}]`, "malformed label");
      return;
    }
    const k = label.slice(0, eq);
    const v = label.slice(eq + 1);
    if (k === "") throw err(`${f}[${i}]`, "label name must not be empty");
    const check = RESERVED_LABELS[k];
    if (check) {
      if (map.has(k)) throw err(`${f}[${i}]`, `reserved label "${k}" appears twice`);
      if (!check(v)) throw err(`${f}[${i}]`, `bad value for reserved label "${k}"`);
    } else if (SINGLE_VALUED_LABELS.has(k) && map.has(k)) {
      // The map keeps one value; a second nats_type/svid_kind would silently
      // win and could hide a credential issuer from the PDP.
      throw err(`${f}[${i}]`, `label "${k}" appears twice`);
    }
    map.set(k, v);
  });
  return map;
}
