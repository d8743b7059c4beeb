/**
 * Shared fixtures for the seal tests: fast Argon2 costs, temp files with a
 * given mode, a recording logger, a counting KDF spy and canary secrets.
 * @module
 */

import { utf8 } from "../../../lib/core/encoding.ts";
import type { LogFields, Logger, LogLevel } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { argon2idKdf, type Argon2Params, type Kdf } from "../../../lib/seal/kdf.ts";
import { PassphraseMethod } from "../../../lib/seal/slots/passphrase.ts";

/** Small Argon2id costs so tests run fast (never used in production). */
export const FAST: Argon2Params = { m_cost_kib: 64, t_cost: 1, p_cost: 1 };

/** Canary secrets: must never show up in an error or log line. */
export const CANARY = {
  passphrase: "CANARY-passphrase-7f3a9c",
  token: "CANARY-token-s.9d8e7f",
  secretId: "CANARY-secret-id-41b2",
  pem: "-----BEGIN PRIVATE KEY-----CANARY-pem-55aa",
  sa: '{"type":"service_account","private_key":"CANARY-sa-77"}',
  dekText: "CANARY-dek-0123456789abcdef0123", // 31 chars, padded to 32 below
} as const;

/** A 32-byte DEK whose bytes spell a canary. */
export const CANARY_DEK: Uint8Array = utf8(CANARY.dekText + "!");

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of dirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* best effort */ }
  }
});

/** A fresh temp directory, removed when the test module unloads. */
export async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "basil-seal-" });
  dirs.push(dir);
  return dir;
}

/** Writes `content` to `dir/name` with `mode` and returns the path. */
export function writeFile(
  dir: string,
  name: string,
  content: string | Uint8Array,
  mode = 0o600,
): string {
  const path = `${dir}/${name}`;
  Deno.writeFileSync(path, typeof content === "string" ? utf8(content) : content);
  Deno.chmodSync(path, mode);
  return path;
}

/** A logger that keeps every line. */
export class RecordingLogger implements Logger {
  readonly lines: { level: LogLevel; message: string; fields: LogFields }[] = [];
  log(level: LogLevel, message: string, fields: LogFields = {}): void {
    this.lines.push({ level, message, fields });
  }
  /** Every line rendered as text (for leak checks). */
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`).join("\n");
  }
}

/** A KDF that counts calls and delegates to Argon2id. */
export function spyKdf(): { kdf: Kdf; calls: () => number } {
  let n = 0;
  return {
    kdf: (secret, salt, params) => {
      n++;
      return argon2idKdf(secret, salt, params);
    },
    calls: () => n,
  };
}

/** A passphrase method over a string passphrase. */
export function passMethod(pass: string, kdf?: Kdf): PassphraseMethod {
  return new PassphraseMethod(new SecretBytes(utf8(pass)), kdf ? { kdf } : {});
}

/** Whether `p` exists (follows symlinks). */
export function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` and returns the error it throws (fails if it does not throw). */
export async function errorOf(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`threw a non-Error: ${String(e)}`);
  }
  throw new Error("expected an error, none was thrown");
}
