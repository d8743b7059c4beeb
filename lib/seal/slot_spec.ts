/**
 * `--slot TYPE[:k=v,...]` and `--open TYPE[:k=v,...]` (contract §5 "Slot
 * spec"), and turning a parsed spec into a {@linkcode SlotMethod}.
 *
 * Invariants:
 * - Every slot type parses (`passphrase:file=P[,label=L]`, `bip39[:file=P]`,
 *   `age-yubikey:recipient=R`, `tpm[:pcrs=0,2,4,7][,bank=sha256]`) so errors
 *   are precise, but only `passphrase` builds a method this round; the others
 *   fail closed with `InputError` token `slot_unsupported`.
 * - Default labels: `passphrase`, `break-glass`, `age-yubikey`, `tpm`.
 * - A passphrase file's mode is not checked (as upstream); its bytes are the
 *   file minus one trailing LF then one CR, and must not be empty.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { readSecretFile } from "../core/fs.ts";
import type { SecretBytes } from "../core/secret.ts";
import type { SlotMethodName } from "./format.ts";
import type { Kdf } from "./kdf.ts";
import { PassphraseMethod } from "./slots/passphrase.ts";
import type { SlotMethod, SlotSpec } from "./slots/types.ts";
import { parseSpecFields, type SpecFields } from "./spec_fields.ts";

const TOKEN = "slot_spec_invalid";

/** Default label per method. */
export const DEFAULT_LABELS: Readonly<Record<SlotMethodName, string>> = {
  passphrase: "passphrase",
  bip39: "break-glass",
  "age-yubikey": "age-yubikey",
  tpm: "tpm",
};

/** A parsed `--slot` / `--open` value (no file read yet). */
export type ParsedSlotSpec =
  | { readonly kind: "passphrase"; readonly file: string; readonly label: string }
  | { readonly kind: "bip39"; readonly file?: string; readonly label: string }
  | { readonly kind: "age-yubikey"; readonly recipient?: string; readonly label: string }
  | {
    readonly kind: "tpm";
    readonly pcrs: readonly number[];
    readonly bank: string;
    readonly label: string;
  };

function parse(text: string, flag: string): ParsedSlotSpec {
  const colon = text.indexOf(":");
  const kind = colon < 0 ? text : text.slice(0, colon);
  const f = parseSpecFields(colon < 0 ? "" : text.slice(colon + 1), flag, TOKEN, ["pcrs"]);
  const label = (k: SlotMethodName): string => f.take("label") ?? DEFAULT_LABELS[k];
  let spec: ParsedSlotSpec;
  switch (kind) {
    case "passphrase":
      spec = { kind, file: f.require("file", "a passphrase slot"), label: label(kind) };
      break;
    case "bip39": {
      const file = f.take("file");
      spec = { kind, label: label(kind), ...(file === undefined ? {} : { file }) };
      break;
    }
    case "age-yubikey": {
      const recipient = f.take("recipient");
      spec = { kind, label: label(kind), ...(recipient === undefined ? {} : { recipient }) };
      break;
    }
    case "tpm":
      spec = { kind, pcrs: parsePcrs(f), bank: f.take("bank") ?? "sha256", label: label(kind) };
      break;
    default:
      throw new InputError(
        TOKEN,
        `${flag}: unknown slot type (expected one of passphrase, bip39, age-yubikey, tpm)`,
      );
  }
  f.finish(`a ${kind} slot`);
  return spec;
}

function parsePcrs(f: SpecFields): number[] {
  const text = f.take("pcrs");
  if (text === undefined) return [0, 2, 4, 7];
  return text.split(",").map((t) => {
    const s = t.trim();
    if (!/^\d{1,2}$/.test(s) || Number(s) > 23) {
      throw f.error(`field "pcrs" must list PCR indices 0-23`);
    }
    return Number(s);
  });
}

/** Parses a `--slot` value for `bundle create` / `add-slot`. */
export function parseSlotSpec(text: string): ParsedSlotSpec {
  return parse(text, "--slot");
}

/** Parses an `--open` value (same grammar; `label` is accepted and ignored). */
export function parseOpenSpec(text: string): ParsedSlotSpec {
  const spec = parse(text, "--open");
  if (spec.kind === "bip39" && spec.file === undefined) {
    throw new InputError(TOKEN, "--open: bip39 requires file=PATH");
  }
  return spec;
}

/**
 * Reads a passphrase file: bytes minus one trailing LF then one CR. Mode is
 * not checked. Throws `InputError` (`secret_file_unreadable`,
 * `passphrase_empty`) naming `what` and the path.
 */
export function readPassphraseFile(path: string, what: string): SecretBytes {
  const pass = readSecretFile(path, { stripNewline: true, what });
  if (pass.length === 0) {
    pass.wipe();
    throw new InputError("passphrase_empty", `${what} ${path}: is empty`);
  }
  return pass;
}

/** Options for {@linkcode loadSlotMethod}. */
export interface LoadSlotOptions {
  /** KDF override (tests). */
  kdf?: Kdf;
}

/** Builds the method for a parsed spec, reading any secret file it names. */
export function loadSlotMethod(spec: ParsedSlotSpec, options: LoadSlotOptions = {}): SlotMethod {
  switch (spec.kind) {
    case "passphrase": {
      const pass = readPassphraseFile(spec.file, "passphrase file");
      return new PassphraseMethod(pass, options.kdf ? { kdf: options.kdf } : {});
    }
    default:
      throw new InputError(
        "slot_unsupported",
        `${spec.kind} slots are not supported by this build yet (only passphrase)`,
      );
  }
}

/** Builds {@linkcode SlotSpec}s for `bundle create`; on error, wipes those built. */
export function loadSlotSpecs(
  specs: readonly ParsedSlotSpec[],
  options: LoadSlotOptions = {},
): SlotSpec[] {
  const out: SlotSpec[] = [];
  try {
    for (const s of specs) out.push({ method: loadSlotMethod(s, options), label: s.label });
  } catch (e) {
    for (const s of out) s.method.dispose();
    throw e;
  }
  return out;
}
