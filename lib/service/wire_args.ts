/**
 * Validation of wire arguments shared by the services: required ids, known
 * enum values, durations (negative, out of the protobuf Duration range or with
 * nanos outside 0..999,999,999 → INVALID_REQUEST naming the field; fractional
 * seconds round up).
 * @module
 */

import type { Duration } from "@bufbuild/protobuf/wkt";
import { invalidRequest } from "../core/errors.ts";
import type { KeyType } from "../core/ops.ts";
import { KeyType as WireKeyType } from "../wire/basil/broker/v1/broker_pb.ts";
import { isKnownEnum, keyTypeFromWire } from "./enums.ts";

/** A non-empty id field. */
export function requireField(value: string, field: string, op: string): string {
  if (value === "") throw invalidRequest(`${field} is required`, op);
  return value;
}

/** Throws unless `v` is a declared member of the enum. */
export function requireKnown(
  enumObj: Record<string, string | number>,
  v: number,
  field: string,
  op: string,
): void {
  if (!isKnownEnum(enumObj, v)) throw invalidRequest(`${field} has an unknown value ${v}`, op);
}

/** An optional wire KeyType (UNSPECIFIED → undefined). */
export function optionalKeyType(v: WireKeyType, op: string): KeyType | undefined {
  requireKnown(WireKeyType as unknown as Record<string, string | number>, v, "key_type", op);
  if (v === WireKeyType.UNSPECIFIED) return undefined;
  return keyTypeFromWire(v);
}

/** Largest `seconds` of a valid google.protobuf.Duration (10,000 years). */
export const MAX_DURATION_SECS = 315_576_000_000n;

/** Largest `nanos` of a valid google.protobuf.Duration. */
const MAX_NANOS = 999_999_999;

/**
 * Whole seconds of a Duration (rounded up), or undefined when absent. Only
 * valid non-negative Durations pass; callers apply their own maximum.
 */
export function durationSecs(
  d: Duration | undefined,
  field: string,
  op: string,
): number | undefined {
  if (d === undefined) return undefined;
  if (d.seconds < 0n || d.nanos < 0) throw invalidRequest(`${field} must not be negative`, op);
  if (d.seconds > MAX_DURATION_SECS || d.nanos > MAX_NANOS || !Number.isInteger(d.nanos)) {
    throw invalidRequest(`${field} is not a valid duration`, op);
  }
  return Number(d.seconds) + (d.nanos > 0 ? 1 : 0);
}
