/**
 * Typed accessors over a {@linkcode JsonValue} tree that fail with a
 * {@linkcode ShapeError} naming the field path and the expected shape, never
 * the value. Used by the payload and credential decoders.
 *
 * Invariants: objects are closed (unknown fields are rejected by
 * {@linkcode expectObject}); secret accessors copy bytes into a fresh
 * {@linkcode SecretBytes} so the caller can wipe the whole parse tree.
 * @module
 */

import { SecretBytes } from "../core/secret.ts";
import { decodeBase64Url } from "../core/encoding.ts";
import { JsonObject, JsonText, type JsonValue } from "./json_bytes.ts";

/** A value of the wrong shape at `path`. */
export class ShapeError extends Error {
  /** Where, e.g. `backends["db"].DbKeystoreDek.dek`. */
  readonly path: string;
  /** What was expected, e.g. `expected a string`. */
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = "ShapeError";
    this.path = path;
    this.reason = reason;
  }
}

/** Appends a member name to a path the way `formatPath` does. */
export function child(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path === "" ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/** A closed object with only the `allowed` keys. */
export function expectObject(
  v: JsonValue | undefined,
  path: string,
  allowed: readonly string[],
): JsonObject {
  if (!(v instanceof JsonObject)) throw new ShapeError(path, "expected an object");
  for (const key of v.fields.keys()) {
    if (!allowed.includes(key)) {
      throw new ShapeError(path, `unknown field ${JSON.stringify(key)}`);
    }
  }
  return v;
}

/** Any object (map-like: arbitrary keys). */
export function expectMap(v: JsonValue | undefined, path: string): JsonObject {
  if (!(v instanceof JsonObject)) throw new ShapeError(path, "expected an object");
  return v;
}

function member(obj: JsonObject, key: string, path: string): JsonValue {
  const v = obj.fields.get(key);
  if (v === undefined) throw new ShapeError(child(path, key), "required field is missing");
  return v;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A required non-secret string. */
export function getString(obj: JsonObject, key: string, path: string): string {
  const v = member(obj, key, path);
  if (!(v instanceof JsonText)) throw new ShapeError(child(path, key), "expected a string");
  return decoder.decode(v.bytes);
}

/** An optional non-secret string (`null` or absent → `undefined`). */
export function getOptString(obj: JsonObject, key: string, path: string): string | undefined {
  const v = obj.fields.get(key);
  if (v === undefined || v === null) return undefined;
  return getString(obj, key, path);
}

/** A required secret string, copied into fresh secret bytes. */
export function getSecretText(obj: JsonObject, key: string, path: string): SecretBytes {
  const v = member(obj, key, path);
  if (!(v instanceof JsonText)) throw new ShapeError(child(path, key), "expected a string");
  return SecretBytes.copyOf(v.bytes);
}

/** An optional secret string (`null` or absent → `undefined`). */
export function getOptSecretText(
  obj: JsonObject,
  key: string,
  path: string,
): SecretBytes | undefined {
  const v = obj.fields.get(key);
  if (v === undefined || v === null) return undefined;
  return getSecretText(obj, key, path);
}

/** A required secret base64url-no-pad field, decoded (optionally of fixed length). */
export function getSecretB64(
  obj: JsonObject,
  key: string,
  path: string,
  length?: number,
): SecretBytes {
  const v = member(obj, key, path);
  if (!(v instanceof JsonText)) throw new ShapeError(child(path, key), "expected a string");
  const bytes = decodeBase64Url(v.bytes);
  if (bytes === undefined) {
    throw new ShapeError(child(path, key), "expected base64url without padding");
  }
  if (length !== undefined && bytes.length !== length) {
    bytes.fill(0);
    throw new ShapeError(child(path, key), `must decode to exactly ${length} bytes`);
  }
  return new SecretBytes(bytes);
}

/** A required non-negative safe integer. */
export function getUint(obj: JsonObject, key: string, path: string): number {
  const v = member(obj, key, path);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new ShapeError(child(path, key), "expected a non-negative integer");
  }
  return v;
}

/** A required array of non-secret strings. */
export function getStringArray(obj: JsonObject, key: string, path: string): string[] {
  const v = member(obj, key, path);
  const where = child(path, key);
  if (!Array.isArray(v)) throw new ShapeError(where, "expected an array");
  return v.map((item, i) => {
    if (!(item instanceof JsonText)) throw new ShapeError(`${where}[${i}]`, "expected a string");
    return decoder.decode(item.bytes);
  });
}
