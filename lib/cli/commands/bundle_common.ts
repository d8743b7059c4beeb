/**
 * Shared plumbing of the `basil bundle …` commands: reading and writing the
 * bundle file, building `--open` methods, and the settings the slot methods
 * need on the operator's side (the TPM from `BASIL_TPM_TCTI`,
 * `BASIL_TSS2_DIR` and `BASIL_LIBC`; an age plugin PIN prompt on the
 * terminal).
 *
 * Invariants: secrets come only from 0600 files named in specs, or from the
 * terminal when a plugin asks for a PIN (never echoed); bundle files are
 * written atomically with mode 0600; operator commands never wipe the
 * secret files they read (a BIP39 phrase file is break-glass material).
 * @module
 */

import { concat, utf8 } from "../../core/encoding.ts";
import { InputError } from "../../core/errors.ts";
import { describeFsError, writeFileAtomic } from "../../core/fs.ts";
import { SecretBytes } from "../../core/secret.ts";
import { keyTokenLine } from "../../seal/deposits/keys.ts";
import { decodeBundle, type DecodedBundle } from "../../seal/format.ts";
import { loadOpeners, type LoadSlotOptions, parseOpenSpec } from "../../seal/slot_spec.ts";
import type { PluginCallbacks } from "../../seal/slots/age_plugin.ts";
import type { SlotMethod } from "../../seal/slots/types.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";

/** Reads a bundle file's bytes. */
export function readBundleBytes(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new InputError("bundle_unreadable", `bundle ${path}: cannot read: ${describeFsError(e)}`);
  }
}

/** Reads and decodes a bundle file. */
export function readBundle(path: string): DecodedBundle {
  return decodeBundle(readBundleBytes(path), path);
}

/** How long an edit waits quietly for the bundle lock before saying so. */
const LOCK_NOTICE_MS = 500;

/**
 * Runs one read-modify-write of the bundle at `path` (`deposit`, `allow`,
 * `promote`, `add-slot`, …) holding an exclusive advisory lock (flock) on
 * `<path>.lock`, so two `basil bundle` commands never interleave their read
 * and their write and neither loses the other's edit. The lock file is
 * created empty, 0600, and left in place: removing it would let a waiting
 * editor lock a file that no longer has the name. While another command
 * holds the lock this one says so on stderr and waits. Readers (`show`,
 * `verify`, the agent) take no lock: writes are atomic renames.
 */
export async function withBundleLock<T>(
  ctx: CliContext,
  path: string,
  edit: () => T | Promise<T>,
): Promise<T> {
  const lockPath = `${path}.lock`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
  } catch (e) {
    throw new InputError(
      "bundle_unwritable",
      `bundle ${path}: cannot open the lock file ${lockPath}: ${describeFsError(e)}`,
    );
  }
  try {
    const notice = setTimeout(
      () =>
        ctx.io.err(`waiting for ${lockPath}: another basil bundle command is editing ${path}\n`),
      LOCK_NOTICE_MS,
    );
    try {
      await file.lock(true);
    } finally {
      clearTimeout(notice);
    }
    return await edit();
  } finally {
    file.close(); // closing the descriptor releases the lock
  }
}

/** Atomically replaces the bundle file (mode 0600). */
export function writeBundle(path: string, bytes: Uint8Array): void {
  try {
    writeFileAtomic(path, bytes);
  } catch (e) {
    throw new InputError(
      "bundle_unwritable",
      `bundle ${path}: cannot write: ${describeFsError(e)}`,
    );
  }
}

/** Writes a deposit recipient token (public: mode 0644), atomically. */
export function writeRecipient(path: string, publicKey: Uint8Array): void {
  try {
    writeFileAtomic(path, keyTokenLine(publicKey), { mode: 0o644 });
  } catch (e) {
    throw new InputError("deposit_key_unwritable", `cannot write ${path}: ${describeFsError(e)}`);
  }
}

function optionalEnv(ctx: CliContext, name: string): string | undefined {
  try {
    const v = ctx.env(name);
    return v === undefined || v === "" ? undefined : v;
  } catch {
    return undefined; // not granted to this CLI build
  }
}

/**
 * The line editing of a hidden prompt in raw mode, one byte at a time from
 * `readByte` (null at end of input): Enter or end of input ends the line,
 * Ctrl-C cancels (`undefined`), DEL and BS erase the last byte and are never
 * part of the secret. At most `max` bytes are kept. Every buffer is wiped.
 */
export async function readSecretLine(
  readByte: () => Promise<number | null>,
  max = 256,
): Promise<SecretBytes | undefined> {
  const buf = new Uint8Array(max);
  let n = 0;
  try {
    for (;;) {
      const b = await readByte();
      if (b === null || b === 0x0d || b === 0x0a) break;
      if (b === 0x03) return undefined;
      if (b === 0x7f || b === 0x08) {
        if (n > 0) n--;
      } else if (n < buf.length) buf[n++] = b;
    }
    return SecretBytes.copyOf(buf.subarray(0, n));
  } finally {
    buf.fill(0);
  }
}

/** Reads a line from the terminal without echo; `undefined` when stdin is not a terminal. */
async function promptSecret(ctx: CliContext, prompt: string): Promise<SecretBytes | undefined> {
  if (!Deno.stdin.isTerminal()) return undefined;
  ctx.io.err(`${prompt}: `);
  const one = new Uint8Array(1);
  Deno.stdin.setRaw(true);
  try {
    return await readSecretLine(async () => (await Deno.stdin.read(one)) === null ? null : one[0]!);
  } finally {
    Deno.stdin.setRaw(false);
    one.fill(0);
    ctx.io.err("\n");
  }
}

/** Plugin callbacks for an interactive operator. */
export function cliPluginCallbacks(ctx: CliContext): PluginCallbacks {
  return {
    message: (text) => ctx.io.err(`age plugin: ${text}\n`),
    requestSecret: (prompt) => promptSecret(ctx, prompt),
  };
}

/** Slot-method options on the CLI side. */
export function cliSlotOptions(ctx: CliContext): LoadSlotOptions {
  const tcti = optionalEnv(ctx, "BASIL_TPM_TCTI");
  const libDir = optionalEnv(ctx, "BASIL_TSS2_DIR");
  const libc = optionalEnv(ctx, "BASIL_LIBC");
  return {
    agePlugin: { callbacks: cliPluginCallbacks(ctx) },
    tpm: {
      ...(tcti === undefined ? {} : { tcti }),
      ...(libDir === undefined ? {} : { libDir }),
      ...(libc === undefined ? {} : { libc }),
    },
  };
}

/** Builds the `--open` methods (at least one is required). */
export async function openers(ctx: CliContext, specs: readonly string[]): Promise<SlotMethod[]> {
  if (specs.length === 0) throw new CliError("give at least one --open <method:…>", 2);
  return await loadOpeners(specs.map(parseOpenSpec), cliSlotOptions(ctx));
}

/** Runs `fn` with the `--open` methods, disposing them afterwards. */
export async function withOpeners<T>(
  ctx: CliContext,
  specs: readonly string[],
  fn: (methods: SlotMethod[]) => Promise<T>,
): Promise<T> {
  const methods = await openers(ctx, specs);
  try {
    return await fn(methods);
  } finally {
    for (const m of methods) m.dispose();
  }
}

/** Prints the one-time BIP39 banner without turning the phrase into a JS string. */
export function printPhrase(
  ctx: CliContext,
  path: string,
  slotId: number,
  phrase: Uint8Array,
): void {
  const out = concat(
    utf8(
      `\nBIP39 recovery phrase for slot ${slotId} of ${path}.\n` +
        `Write it down now and keep it offline: it will never be shown again.\n\n  `,
    ),
    phrase,
    utf8("\n\n"),
  );
  try {
    ctx.io.outBytes(out);
  } finally {
    out.fill(0);
  }
}
