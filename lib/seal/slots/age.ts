/**
 * The `age-yubikey` slot (contract §6): `wrap.ciphertext` is a binary age
 * file whose plaintext is the 32-byte master KEK, `wrap.nonce` is empty,
 * and the header AAD is not bound inside (age has its own header MAC).
 *
 * One method name covers both recipient kinds (the contract lists no plain
 * `age` method): a native X25519 recipient `age1…` (wrapped and opened with
 * npm:age-encryption, interoperable with the `age` CLI) and a plugin
 * recipient `age1NAME1…` such as `age1yubikey1…` (wrapped and opened by
 * `age-plugin-NAME` over the age plugin protocol).
 *
 * Invariants:
 * - X25519 identity keys are imported as non-extractable WebCrypto keys;
 *   the raw bytes are wiped right after import.
 * - The plugin is only started for a file that has a non-X25519 stanza.
 * - Opening never trusts the unauthenticated `params.recipient`: the age
 *   ciphertext alone decides. A wrong identity is `SlotOpenFailed`; a
 *   plugin that cannot run is an `InputError` naming the binary.
 * @module
 */

import { Decrypter, Encrypter, type Identity, type Recipient, Stanza } from "age-encryption";
import { InputError } from "../../core/errors.ts";
import { rawPrivateToPkcs8 } from "../../crypto/key_formats.ts";
import { x25519PublicKey } from "../../crypto/x25519_seal.ts";
import { bech32Decode, bech32Encode } from "../bech32.ts";
import type { Slot } from "../format.ts";
import { type PluginOptions, pluginUnwrap, pluginWrap } from "./age_plugin.ts";
import {
  checkKekLength,
  type SlotCreateContext,
  type SlotMaterial,
  type SlotMethod,
  SlotOpenFailed,
} from "./types.ts";

/** The age plugin the agent and `--open age-yubikey` use by default (`age-plugin-yubikey`). */
export const DEFAULT_AGE_PLUGIN = "yubikey";

/** A classified recipient. */
export type AgeRecipient =
  | { readonly kind: "x25519"; readonly text: string }
  | { readonly kind: "plugin"; readonly text: string; readonly plugin: string };

const NATIVE_PLUGIN_NAMES = new Set(["pq", "tag", "tagpq"]);

/** Parses an `age1…` recipient; throws `InputError("age_recipient_invalid")`. */
export function parseAgeRecipient(text: string, where = "recipient"): AgeRecipient {
  const d = text === text.toLowerCase() ? bech32Decode(text) : undefined;
  const bad = (why: string) => new InputError("age_recipient_invalid", `${where}: ${why}`);
  if (d === undefined) throw bad("not a valid age recipient (expected age1…)");
  if (d.hrp === "age") {
    if (d.data.length !== 32) throw bad("an X25519 age recipient must hold 32 bytes");
    return { kind: "x25519", text };
  }
  const m = /^age1([a-z0-9._+-]+)$/.exec(d.hrp);
  if (m === null || NATIVE_PLUGIN_NAMES.has(m[1]!)) {
    throw bad("unsupported recipient type (use an X25519 age1… or a plugin age1NAME1… recipient)");
  }
  return { kind: "plugin", text, plugin: m[1]! };
}

/** One identity able to open an age slot. */
export type AgeIdentity =
  | { readonly kind: "x25519"; readonly key: CryptoKey; readonly recipient: string }
  | AgePluginIdentity;

/** An identity served by an `age-plugin-NAME` binary. */
export type AgePluginIdentity = {
  readonly kind: "plugin";
  readonly plugin: string;
  readonly text: string;
};

/** The default identity of a plugin (what `age -j NAME` uses): no key data. */
export function defaultPluginIdentity(plugin: string): AgePluginIdentity {
  return {
    kind: "plugin",
    plugin,
    text: bech32Encode(`age-plugin-${plugin}-`, new Uint8Array()).toUpperCase(),
  };
}

/** Imports a raw 32-byte X25519 secret (wiped by the caller) as an identity. */
export async function x25519Identity(raw: Uint8Array): Promise<AgeIdentity> {
  const recipient = bech32Encode("age", x25519PublicKey(raw));
  const pkcs8 = rawPrivateToPkcs8("x25519", raw);
  try {
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8 as Uint8Array<ArrayBuffer>,
      { name: "X25519" },
      false,
      ["deriveBits"],
    );
    return { kind: "x25519", key, recipient };
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * A plugin recipient for age-encryption's `Encrypter`. It keeps a reference
 * to each file key it wrapped so the caller can wipe it once `encrypt` is
 * done with it (age-encryption never wipes its file key).
 */
class PluginRecipient implements Recipient {
  readonly #fileKeys: Uint8Array[] = [];
  constructor(readonly r: { text: string; plugin: string }, readonly o: PluginOptions) {}
  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    this.#fileKeys.push(fileKey);
    const out = await pluginWrap(this.r.plugin, this.r.text, fileKey, this.o);
    return out.map((s) => new Stanza([...s.args], s.body));
  }
  /** Zeroes every file key this recipient was given. */
  wipe(): void {
    for (const k of this.#fileKeys) k.fill(0);
    this.#fileKeys.length = 0;
  }
}

/**
 * A plugin identity for age-encryption's `Decrypter`. The file key a plugin
 * returns is owned here: {@linkcode PluginIdentity.wipe} zeroes every key
 * handed out, once `decrypt` has used it (age-encryption never wipes it).
 * Exported for tests; {@linkcode ageUnwrap} is the API.
 */
export class PluginIdentity implements Identity {
  readonly #fileKeys: Uint8Array[] = [];
  /** Identities `ids` of plugin `plugin`, run with `o`. */
  constructor(readonly plugin: string, readonly ids: string[], readonly o: PluginOptions) {}
  /** Asks the plugin for the file key; keeps a reference to wipe it later. */
  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    const foreign = stanzas.filter((s) => s.args[0] !== "X25519" && s.args[0] !== "scrypt");
    if (foreign.length === 0) return null;
    const key = await pluginUnwrap(this.plugin, this.ids, foreign, this.o);
    if (key !== null) this.#fileKeys.push(key);
    return key;
  }
  /** Zeroes every file key this identity returned. */
  wipe(): void {
    for (const k of this.#fileKeys) k.fill(0);
    this.#fileKeys.length = 0;
  }
}

/** Wraps `kek` to `recipient` as a binary age file. */
export async function ageWrap(
  kek: Uint8Array,
  recipient: AgeRecipient,
  o: PluginOptions = {},
): Promise<Uint8Array> {
  const e = new Encrypter();
  if (recipient.kind === "x25519") {
    e.addRecipient(recipient.text);
    return await e.encrypt(kek);
  }
  const plugin = new PluginRecipient(recipient, o);
  e.addRecipient(plugin);
  try {
    return await e.encrypt(kek);
  } finally {
    plugin.wipe();
  }
}

/**
 * Decrypts a binary age file with `identities`: the plaintext, or `undefined`
 * when no identity matched or the file does not authenticate. Plugin
 * failures throw `InputError`.
 */
export async function ageUnwrap(
  file: Uint8Array,
  identities: readonly AgeIdentity[],
  o: PluginOptions = {},
): Promise<Uint8Array | undefined> {
  const d = new Decrypter();
  const byPlugin = new Map<string, string[]>();
  for (const id of identities) {
    if (id.kind === "x25519") d.addIdentity(id.key);
    else byPlugin.set(id.plugin, [...(byPlugin.get(id.plugin) ?? []), id.text]);
  }
  const plugins = [...byPlugin].map(([plugin, ids]) => new PluginIdentity(plugin, ids, o));
  for (const p of plugins) d.addIdentity(p);
  try {
    return await d.decrypt(file);
  } catch (e) {
    if (e instanceof InputError) throw e;
    return undefined;
  } finally {
    // The file key is only needed inside `decrypt` (header MAC, stream key).
    for (const p of plugins) p.wipe();
  }
}

/** The age-yubikey slot method: creates with a recipient, opens with identities. */
export class AgeMethod implements SlotMethod {
  /** Always `age-yubikey`. */
  readonly method = "age-yubikey" as const;
  readonly #recipient: AgeRecipient | undefined;
  readonly #identities: AgeIdentity[];
  readonly #plugin: PluginOptions;

  constructor(
    opts: { recipient?: AgeRecipient; identities?: AgeIdentity[]; plugin?: PluginOptions },
  ) {
    this.#recipient = opts.recipient;
    this.#identities = [...(opts.identities ?? [])];
    this.#plugin = opts.plugin ?? {};
  }

  /** The recipient new slots are wrapped to, if any. */
  get recipient(): AgeRecipient | undefined {
    return this.#recipient;
  }

  /** The identities this method opens with. */
  get identities(): readonly AgeIdentity[] {
    return this.#identities;
  }

  /** Wraps `kek` to the configured recipient. */
  async create(kek: Uint8Array, _ctx: SlotCreateContext): Promise<SlotMaterial> {
    if (this.#recipient === undefined) {
      throw new InputError("slot_spec_invalid", "an age-yubikey slot requires recipient=age1…");
    }
    const ciphertext = await ageWrap(kek, this.#recipient, this.#plugin);
    return {
      params: { kind: "age-yubikey", recipient: this.#recipient.text },
      wrap: { nonce: new Uint8Array(), ciphertext },
    };
  }

  /** Recovers the KEK from an age-yubikey slot. */
  async open(slot: Slot, _headerBytes: Uint8Array): Promise<Uint8Array> {
    if (slot.params.kind !== "age-yubikey") {
      throw new InputError("slot_params", `slot ${slot.slot_id}: expected age-yubikey params`);
    }
    if (this.#identities.length === 0) throw new SlotOpenFailed();
    const kek = await ageUnwrap(slot.wrap.ciphertext, this.#identities, this.#plugin);
    if (kek === undefined) throw new SlotOpenFailed();
    return checkKekLength(kek, slot.slot_id);
  }

  /** Drops the identities (WebCrypto keys cannot be wiped from JS). */
  dispose(): void {
    this.#identities.length = 0;
  }
}
