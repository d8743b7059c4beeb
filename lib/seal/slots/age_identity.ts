/**
 * age identity files (`age-keygen` output, `age-plugin-yubikey` identity
 * stubs): one identity per line, `#` comments and blank lines ignored.
 *
 * Invariants: the file must be owner-only (0600/0400); `AGE-SECRET-KEY-1…`
 * lines are decoded from bytes (never a JS string) and imported as
 * non-extractable keys, every buffer wiped; `AGE-PLUGIN-NAME-1…` lines name
 * a plugin identity; anything else is an error naming the line number only.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import { readSecretFile } from "../../core/fs.ts";
import { bech32DecodeBytes } from "../bech32.ts";
import { type AgeIdentity, x25519Identity } from "./age.ts";

const TOKEN = "age_identity_invalid";
const SECRET_PREFIX = new TextEncoder().encode("AGE-SECRET-KEY-1");
const PLUGIN_PREFIX = new TextEncoder().encode("AGE-PLUGIN-");

function startsWith(line: Uint8Array, prefix: Uint8Array): boolean {
  return line.length >= prefix.length && prefix.every((b, i) => line[i] === b);
}

function trimmed(line: Uint8Array): Uint8Array {
  let s = 0;
  let e = line.length;
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d;
  while (s < e && ws(line[s]!)) s++;
  while (e > s && ws(line[e - 1]!)) e--;
  return line.subarray(s, e);
}

/** Parses identity-file bytes (`what` names the file in errors). */
export async function parseAgeIdentities(bytes: Uint8Array, what: string): Promise<AgeIdentity[]> {
  const out: AgeIdentity[] = [];
  let start = 0;
  let lineNo = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    lineNo++;
    const line = trimmed(bytes.subarray(start, end));
    start = end + 1;
    if (line.length === 0 || line[0] === 0x23) continue;
    const d = bech32DecodeBytes(line);
    if (startsWith(line, SECRET_PREFIX)) {
      if (d === undefined || d.hrp !== "age-secret-key-" || d.data.length !== 32) {
        d?.data.fill(0);
        throw new InputError(
          TOKEN,
          `${what}: line ${lineNo} is not a valid AGE-SECRET-KEY-1 identity`,
        );
      }
      try {
        out.push(await x25519Identity(d.data));
      } finally {
        d.data.fill(0);
      }
      continue;
    }
    const m = d === undefined ? null : /^age-plugin-([a-z0-9._+-]+)-$/.exec(d.hrp);
    if (startsWith(line, PLUGIN_PREFIX) && m !== null) {
      out.push({ kind: "plugin", plugin: m[1]!, text: new TextDecoder().decode(line) });
      continue;
    }
    d?.data.fill(0);
    throw new InputError(TOKEN, `${what}: line ${lineNo} is not an age identity`);
  }
  if (out.length === 0) throw new InputError(TOKEN, `${what}: holds no age identity`);
  return out;
}

/** Reads an owner-only identity file. */
export async function readAgeIdentityFile(path: string): Promise<AgeIdentity[]> {
  const raw = readSecretFile(path, { requireOwnerOnly: true, what: "age identity file" });
  try {
    return await parseAgeIdentities(raw.expose(), `age identity file ${path}`);
  } finally {
    raw.wipe();
  }
}
