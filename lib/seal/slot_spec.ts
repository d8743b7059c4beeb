/**
 * `--slot TYPE[:k=v,...]` and `--open TYPE[:k=v,...]` (contract §5 "Slot
 * spec"), and turning a parsed spec into a {@linkcode SlotMethod}.
 *
 * Grammar:
 * - `passphrase:file=P[,label=L]` (slot and open);
 * - `bip39[:file=P][,label=L]`: `--slot bip39` generates a phrase (returned
 *   to the caller for a one-time display); `--open` needs `file=`;
 * - `age-yubikey:recipient=R[,label=L]` for `--slot` (R is `age1…` X25519 or
 *   `age1yubikey1…`/`age1NAME1…` plugin); `--open age-yubikey[:identity=F]`
 *   opens with the identities in F (0600), else with the default identity
 *   of `age-plugin-yubikey` (an extension: the contract's agent uses only
 *   the plugin);
 * - `tpm[:pcrs=0,2,4,7][,bank=sha256][,label=L]` (commas continue `pcrs`).
 *
 * Invariants:
 * - Default labels: `passphrase`, `break-glass`, `age-yubikey`, `tpm`.
 * - The CLI does not check a passphrase file's mode (as upstream); the
 *   agent passes {@linkcode ReadPassphraseOptions.onMode} to warn about or
 *   refuse a group/world-accessible one (`unlock.ts`). Its bytes are the
 *   file minus one trailing LF then one CR, and must not be empty. A phrase
 *   file and an identity file must be 0600. This module never wipes a file:
 *   that is the agent's decision (`unlock.ts`).
 * - On any error, methods already built are disposed.
 * @module
 */

import { InputError } from "../core/errors.ts";
import type { SecretBytes } from "../core/secret.ts";
import { generatePhrase } from "./bip39_phrase.ts";
import type { SlotMethodName } from "./format.ts";
import type { Kdf } from "./kdf.ts";
import {
  AgeMethod,
  DEFAULT_AGE_PLUGIN,
  defaultPluginIdentity,
  parseAgeRecipient,
} from "./slots/age.ts";
import { readAgeIdentityFile } from "./slots/age_identity.ts";
import type { PluginOptions } from "./slots/age_plugin.ts";
import { Bip39Method, readPhraseFile } from "./slots/bip39.ts";
import { PassphraseMethod, readPassphraseFile } from "./slots/passphrase.ts";
import { loadTpmMethod, type TpmSettings } from "./slots/tpm_loader.ts";
import type { SlotMethod, SlotSpec } from "./slots/types.ts";
import { parseSpecFields, type SpecFields, specFieldsFromTable } from "./spec_fields.ts";

const TOKEN = "slot_spec_invalid";

/** Default label per method. */
export const DEFAULT_LABELS: Readonly<Record<SlotMethodName, string>> = {
  passphrase: "passphrase",
  bip39: "break-glass",
  "age-yubikey": "age-yubikey",
  tpm: "tpm",
};

/** The plugin whose default identity `--open age-yubikey` and the agent use. */
export { DEFAULT_AGE_PLUGIN } from "./slots/age.ts";
export { readPassphraseFile, type ReadPassphraseOptions } from "./slots/passphrase.ts";

/** A parsed `--slot` / `--open` value (no file read yet). */
export type ParsedSlotSpec =
  | { readonly kind: "passphrase"; readonly file: string; readonly label: string }
  | { readonly kind: "bip39"; readonly file?: string; readonly label: string }
  | {
    readonly kind: "age-yubikey";
    readonly recipient?: string;
    readonly identity?: string;
    readonly label: string;
  }
  | {
    readonly kind: "tpm";
    readonly pcrs: readonly number[];
    readonly bank: string;
    readonly label: string;
  };

type Mode = "--slot" | "--open";

function parse(text: string, flag: Mode): ParsedSlotSpec {
  const colon = text.indexOf(":");
  const kind = colon < 0 ? text : text.slice(0, colon);
  const f = parseSpecFields(colon < 0 ? "" : text.slice(colon + 1), flag, TOKEN, ["pcrs"]);
  return fromFields(kind, f, flag, flag);
}

/** A slot of method `kind` from its fields; `where` names the source in errors. */
function fromFields(kind: string, f: SpecFields, flag: Mode, where: string): ParsedSlotSpec {
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
      if (flag === "--slot") {
        spec = {
          kind,
          recipient: f.require("recipient", "an age-yubikey slot"),
          label: label(kind),
        };
      } else {
        const identity = f.take("identity");
        spec = { kind, label: label(kind), ...(identity === undefined ? {} : { identity }) };
      }
      break;
    }
    case "tpm":
      spec = { kind, pcrs: parsePcrs(f), bank: f.take("bank") ?? "sha256", label: label(kind) };
      break;
    default:
      throw new InputError(
        TOKEN,
        `${where}: unknown slot type (expected one of passphrase, bip39, age-yubikey, tpm)`,
      );
  }
  f.finish(`a ${kind} ${flag === "--slot" ? "slot" : "opener"}`);
  return spec;
}

function parsePcrs(f: SpecFields): number[] {
  const text = f.take("pcrs");
  if (text === undefined) return [0, 2, 4, 7];
  const out = text.split(",").map((t) => {
    const s = t.trim();
    if (!/^\d{1,2}$/.test(s) || Number(s) > 23) {
      throw f.error(`field "pcrs" must list PCR indices 0-23`);
    }
    return Number(s);
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

/** Parses a `--slot` value for `bundle create` / `add-slot`. */
export function parseSlotSpec(text: string): ParsedSlotSpec {
  const spec = parse(text, "--slot");
  if (spec.kind === "age-yubikey") parseAgeRecipient(spec.recipient!, "--slot: recipient");
  return spec;
}

/**
 * A `[[slot]]` table of `bundle create --from` (`type = "passphrase"`, then
 * the `--slot` fields: `file`, `label`, `recipient`, `pcrs` (a list or a
 * string), `bank`). `where` names the file and the table in errors.
 */
export function slotSpecFromTable(
  table: Readonly<Record<string, unknown>>,
  where: string,
): ParsedSlotSpec {
  const kind = table.type;
  if (typeof kind !== "string" || kind === "") {
    throw new InputError(TOKEN, `${where}: field "type" is required (passphrase, bip39, …)`);
  }
  const f = specFieldsFromTable(table, where, TOKEN, { lists: ["pcrs"], skip: ["type"] });
  const spec = fromFields(kind, f, "--slot", where);
  if (spec.kind === "age-yubikey") parseAgeRecipient(spec.recipient!, `${where}: recipient`);
  return spec;
}

/** Parses an `--open` value (same grammar; `label` is accepted and ignored). */
export function parseOpenSpec(text: string): ParsedSlotSpec {
  const spec = parse(text, "--open");
  if (spec.kind === "bip39" && spec.file === undefined) {
    throw new InputError(TOKEN, "--open: bip39 requires file=PATH");
  }
  return spec;
}

/** Options for {@linkcode loadSlotMethod}. */
export interface LoadSlotOptions {
  /** KDF override (tests). */
  readonly kdf?: Kdf;
  /** How to run age plugins (tests inject a launcher; the CLI adds a PIN prompt). */
  readonly agePlugin?: PluginOptions;
  /** TPM access (TCTI, libtss2 directory). */
  readonly tpm?: TpmSettings;
}

/** A built method, plus the phrase when `--slot bip39` generated one. */
export interface LoadedMethod {
  readonly method: SlotMethod;
  readonly generatedPhrase?: SecretBytes;
}

/** Builds the method for a parsed spec, reading any secret file it names. */
export async function loadSlotMethod(
  spec: ParsedSlotSpec,
  options: LoadSlotOptions = {},
): Promise<LoadedMethod> {
  const kdf = options.kdf ? { kdf: options.kdf } : {};
  switch (spec.kind) {
    case "passphrase":
      return {
        method: new PassphraseMethod(readPassphraseFile(spec.file, "passphrase file"), kdf),
      };
    case "bip39": {
      if (spec.file !== undefined) {
        return { method: new Bip39Method(readPhraseFile(spec.file, "bip39 phrase file"), kdf) };
      }
      const { entropy, phrase } = generatePhrase();
      return { method: new Bip39Method(entropy, kdf), generatedPhrase: phrase };
    }
    case "age-yubikey": {
      const plugin = options.agePlugin ?? {};
      if (spec.recipient !== undefined) {
        return { method: new AgeMethod({ recipient: parseAgeRecipient(spec.recipient), plugin }) };
      }
      const identities = spec.identity === undefined
        ? [defaultPluginIdentity(DEFAULT_AGE_PLUGIN)]
        : await readAgeIdentityFile(spec.identity);
      return { method: new AgeMethod({ identities, plugin }) };
    }
    case "tpm":
      return {
        method: await loadTpmMethod({ ...options.tpm, pcrs: spec.pcrs, bank: spec.bank }),
      };
  }
}

/** Slots to create, and the phrases generated for them (caller shows then wipes). */
export interface LoadedSlots {
  readonly slots: SlotSpec[];
  readonly phrases: SecretBytes[];
  /** Disposes every method and wipes every phrase. */
  dispose(): void;
}

/** Builds {@linkcode SlotSpec}s for `bundle create`/`add-slot`; on error, disposes those built. */
export async function loadSlotSpecs(
  specs: readonly ParsedSlotSpec[],
  options: LoadSlotOptions = {},
): Promise<LoadedSlots> {
  const slots: SlotSpec[] = [];
  const phrases: SecretBytes[] = [];
  const dispose = () => {
    for (const s of slots) s.method.dispose();
    for (const p of phrases) p.wipe();
  };
  try {
    for (const s of specs) {
      const m = await loadSlotMethod(s, options);
      slots.push({ method: m.method, label: s.label });
      if (m.generatedPhrase !== undefined) phrases.push(m.generatedPhrase);
    }
  } catch (e) {
    dispose();
    throw e;
  }
  return { slots, phrases, dispose };
}

/** Builds opener methods for `--open` specs; on error, disposes those built. */
export async function loadOpeners(
  specs: readonly ParsedSlotSpec[],
  options: LoadSlotOptions = {},
): Promise<SlotMethod[]> {
  return (await loadSlotSpecs(specs, options)).slots.map((s) => s.method);
}
