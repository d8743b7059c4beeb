/**
 * NATS NKey text encoding: base32 (RFC 4648, no padding) of a prefix byte,
 * the 32 key bytes and a CRC-16/XMODEM (little-endian). Public keys start
 * with their role letter (O operator, A account, U user, N server, C
 * cluster, X curve); seeds with `S` then the role letter.
 *
 * The broker's own NKeys never exist here as seeds: issuer keys are
 * `ed25519-nkey` transit keys that sign in place. Seeds are only parsed by
 * the local `issue-nats-creds` command, which formats a `.creds` file.
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";

/** An NKey role letter. */
export type NkeyRole = "O" | "A" | "U" | "N" | "C" | "X";

/** Prefix byte of each role (the letter's base32 value shifted left by 3). */
const PREFIX: Readonly<Record<NkeyRole, number>> = {
  O: 14 << 3,
  A: 0,
  U: 20 << 3,
  N: 13 << 3,
  C: 2 << 3,
  X: 23 << 3,
};

const SEED_PREFIX = 18 << 3;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Base32 (RFC 4648 alphabet) without padding. */
export function base32NoPad(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes unpadded base32; undefined on any character outside the alphabet or stray bits. */
export function fromBase32NoPad(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return undefined;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 255);
    }
    acc &= (1 << bits) - 1;
  }
  if (bits >= 5 || acc !== 0) return undefined;
  return new Uint8Array(out);
}

/** CRC-16/XMODEM (polynomial 0x1021, initial value 0). */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function withCrc(body: Uint8Array): string {
  const crc = crc16(body);
  const raw = new Uint8Array(body.length + 2);
  raw.set(body);
  raw[body.length] = crc & 255;
  raw[body.length + 1] = crc >>> 8;
  return base32NoPad(raw);
}

function checkedBody(text: string, length: number): Uint8Array | undefined {
  const raw = fromBase32NoPad(text);
  if (!raw || raw.length !== length + 2) return undefined;
  const body = raw.subarray(0, length);
  const crc = raw[length]! | (raw[length + 1]! << 8);
  return crc16(body) === crc ? body : undefined;
}

/** The public NKey text of a raw 32-byte Ed25519 (or X25519, for `X`) public key. */
export function encodePublicNkey(role: NkeyRole, key: Uint8Array): string {
  if (key.length !== 32) throw new RangeError("an NKey public key is 32 bytes");
  const body = new Uint8Array(33);
  body[0] = PREFIX[role];
  body.set(key, 1);
  return withCrc(body);
}

/** A decoded public NKey. */
export interface PublicNkey {
  readonly role: NkeyRole;
  readonly key: Uint8Array;
  readonly text: string;
}

/** Decodes a public NKey (any role, or only `roles`); undefined when it is not one. */
export function decodePublicNkey(
  text: string,
  roles?: readonly NkeyRole[],
): PublicNkey | undefined {
  if (text.length !== 56) return undefined;
  const body = checkedBody(text, 33);
  if (!body) return undefined;
  const role = (Object.keys(PREFIX) as NkeyRole[]).find((r) => PREFIX[r] === body[0]);
  if (role === undefined || text[0] !== role) return undefined;
  if (roles && !roles.includes(role)) return undefined;
  return { role, key: body.slice(1), text };
}

/** Whether `text` is a public NKey of one of `roles` (any role when omitted). */
export function isPublicNkey(text: string, roles?: readonly NkeyRole[]): boolean {
  return decodePublicNkey(text, roles) !== undefined;
}

/** What a seed proves: its role and its public key. */
export interface SeedIdentity {
  readonly role: NkeyRole;
  /** The public NKey text of the seed's key pair. */
  readonly publicNkey: string;
}

/**
 * The role and public NKey of a seed given as ASCII bytes (`SU…`), after
 * checking its checksum, or undefined when the bytes are not a seed. No
 * JavaScript string of the seed is made; every decoded byte is wiped.
 */
export function seedIdentity(ascii: Uint8Array): SeedIdentity | undefined {
  if (ascii.length !== 58) return undefined;
  const raw = new Uint8Array(36);
  let bits = 0;
  let acc = 0;
  let n = 0;
  try {
    for (const ch of ascii) {
      const v = ch >= 65 && ch <= 90 ? ch - 65 : ch >= 50 && ch <= 55 ? ch - 24 : -1;
      if (v < 0) return undefined;
      acc = ((acc << 5) | v) & 0xffff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        raw[n++] = (acc >>> bits) & 255;
      }
    }
    acc = 0;
    if (n !== 36) return undefined;
    const body = raw.subarray(0, 34);
    if (crc16(body) !== (raw[34]! | (raw[35]! << 8))) return undefined;
    if ((raw[0]! & 0xf8) !== SEED_PREFIX) return undefined;
    const prefix = ((raw[0]! & 7) << 5) | ((raw[1]! & 0xf8) >> 3);
    const role = (Object.keys(PREFIX) as NkeyRole[]).find((r) => PREFIX[r] === prefix);
    if (role === undefined || role === "X") return undefined;
    const pub = ed25519.getPublicKey(raw.subarray(2, 34));
    return { role, publicNkey: encodePublicNkey(role, pub) };
  } finally {
    raw.fill(0);
  }
}
