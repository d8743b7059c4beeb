/**
 * Policy operation tokens and the catalog vocabulary shared by every layer.
 * Tokens are the contract's kebab/snake strings, never TypeScript enums.
 * @module
 */

/** Key-scoped operations; exactly the set a `*` action expands to. */
export const KEY_OPS = [
  "get",
  "list",
  "get_public_key",
  "verify",
  "sign",
  "encrypt",
  "decrypt",
  "mint",
  "sign_nats_jwt",
  "validate_nats_jwt",
  "encrypt_nats_curve",
  "decrypt_nats_curve",
  "validate",
  "set",
  "rotate",
  "import",
  "new_key",
] as const;

/** Admin operations: granted only explicitly, over `broker.<op>`. */
export const ADMIN_OPS = ["reload", "explain", "revoke", "watch"] as const;

/** Key-scoped, but never implied by `*`. */
export const EXPLICIT_KEY_OPS = ["use_software_custody"] as const;

/** A key-scoped operation token. */
export type KeyOp = typeof KEY_OPS[number] | typeof EXPLICIT_KEY_OPS[number];
/** An admin operation token. */
export type AdminOp = typeof ADMIN_OPS[number];
/** Any policy operation token. */
export type Op = KeyOp | AdminOp;

/** Every operation, in the contract's order. */
export const ALL_OPS: readonly Op[] = [...KEY_OPS, ...EXPLICIT_KEY_OPS, ...ADMIN_OPS];

/** Operations capped by a key's `writable: false`. */
export const WRITE_OPS: ReadonlySet<Op> = new Set<Op>(["set", "rotate", "import", "new_key"]);

const OP_SET: ReadonlySet<string> = new Set(ALL_OPS);
const ADMIN_SET: ReadonlySet<string> = new Set(ADMIN_OPS);

/** Narrows a string to an operation token. */
export function isOp(s: string): s is Op {
  return OP_SET.has(s);
}

/** Narrows an operation to an admin operation. */
export function isAdminOp(op: string): op is AdminOp {
  return ADMIN_SET.has(op);
}

/** The literal target an admin op is granted over. */
export function adminTarget(op: AdminOp): string {
  return `broker.${op}`;
}

/** Catalog key classes. */
export const KEY_CLASSES = ["asymmetric", "symmetric", "value", "public", "sealing"] as const;
/** A catalog key class. */
export type KeyClass = typeof KEY_CLASSES[number];

/** Catalog key types. */
export const KEY_TYPES = [
  "ed25519",
  "ed25519-nkey",
  "rsa-2048",
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "aes-256-gcm",
  "chacha20-poly1305",
  "x25519",
  "ml-kem-512",
  "ml-kem-768",
  "ml-kem-1024",
  "ml-dsa-44",
  "ml-dsa-65",
  "ml-dsa-87",
] as const;
/** A catalog key type. */
export type KeyType = typeof KEY_TYPES[number];

/** Backend engines. */
export const ENGINES = ["transit", "kv2", "pki"] as const;
/** A backend engine. */
export type Engine = typeof ENGINES[number];

/** Backend kinds. */
export const BACKEND_KINDS = ["vault", "keystore", "aws-kms", "gcp-kms"] as const;
/** A backend kind. */
export type BackendKind = typeof BACKEND_KINDS[number];

const KEY_NAME = /^[a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*$/;

/**
 * Longest catalog key name, in bytes (names are ASCII). The catalog refuses
 * longer names and the broker refuses longer key ids before it decides, so
 * a request-chosen string cannot inflate an audit line.
 */
export const MAX_KEY_NAME_BYTES = 256;

/** Whether `name` is a valid dotted catalog key name of at most MAX_KEY_NAME_BYTES. */
export function isKeyName(name: string): boolean {
  return name.length <= MAX_KEY_NAME_BYTES && KEY_NAME.test(name);
}
