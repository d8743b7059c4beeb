/**
 * Argument parsers shared by CLI commands. Each throws commander's
 * `InvalidArgumentError`, so bad arguments exit 2 with a clear message.
 * @module
 */

import { InvalidArgumentError } from "commander";
import { fromHex } from "../core/encoding.ts";

/** A decimal integer in [min, max]. */
export function intArg(min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError("must be a non-negative integer");
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** Commander collector for repeatable options. */
export const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** Hex bytes. */
export function hexArg(v: string): Uint8Array {
  try {
    return fromHex(v);
  } catch {
    throw new InvalidArgumentError("must be hex (an even number of 0-9a-f digits)");
  }
}
