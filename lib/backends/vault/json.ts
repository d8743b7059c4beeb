/**
 * Typed access to a parsed Vault/OpenBao response (a byte-level JSON tree
 * from `parseJsonBytes`, so secret string values stay bytes). Every accessor
 * names the field it wanted in the BACKEND_ERROR it throws for a missing or
 * mistyped value, so a backend answering the wrong shape is a clear error,
 * never a crash.
 * @module
 */

import { JsonObject, JsonText, type JsonValue } from "../../seal/json_bytes.ts";
import { rejected } from "./errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** BACKEND_ERROR: the response lacks `where` or has it with the wrong type. */
export function malformed(where: string, want: string): never {
  throw rejected(`vault response: ${where} is missing or not ${want}`);
}

/** The member `key` of an object, or undefined (absent or JSON null). */
export function member(v: JsonValue | undefined, key: string): JsonValue | undefined {
  if (!(v instanceof JsonObject)) return undefined;
  const got = v.fields.get(key);
  return got === null ? undefined : got;
}

/** An object member; throws naming `where` unless it is an object. */
export function obj(v: JsonValue | undefined, where: string): JsonObject {
  if (!(v instanceof JsonObject)) malformed(where, "an object");
  return v;
}

/** A non-secret string. */
export function str(v: JsonValue | undefined, where: string): string {
  if (!(v instanceof JsonText)) malformed(where, "a string");
  try {
    return utf8.decode(v.bytes);
  } catch {
    return malformed(where, "UTF-8 text");
  }
}

/** A string's bytes (not copied: wipe the tree with `wipeJson` when done). */
export function textBytes(v: JsonValue | undefined, where: string): Uint8Array {
  if (!(v instanceof JsonText)) malformed(where, "a string");
  return v.bytes;
}

/** A non-negative safe integer. */
export function uint(v: JsonValue | undefined, where: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    malformed(where, "a non-negative integer");
  }
  return v;
}

/** A boolean. */
export function bool(v: JsonValue | undefined, where: string): boolean {
  if (typeof v !== "boolean") malformed(where, "a boolean");
  return v;
}

/** An array of strings (empty when absent). */
export function strings(v: JsonValue | undefined, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) malformed(where, "an array of strings");
  return v.map((x, i) => str(x, `${where}[${i}]`));
}
