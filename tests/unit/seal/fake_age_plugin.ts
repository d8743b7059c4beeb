/**
 * A fake `age-plugin-yubikey` for tests: it speaks the age plugin protocol
 * (recipient-v1 and identity-v1) for one test X25519 key standing in for a
 * YubiKey. Recipients are `age1yubikey1` + bech32(public key); stanzas are
 * `piv-p256 <tag> <ephemeral>` with the §11.4 X25519 box as body (the real
 * plugin's stanza type, a different inner format). It sends a `msg`
 * ("touch"), can demand a PIN through `request-secret`, and ignores unknown
 * commands as the spec requires.
 *
 * Used in process (unit tests, {@linkcode fakeLauncher}) and as a real
 * process (e2e: run this file with `--age-plugin=…`, key and PIN from the
 * env vars FAKE_AGE_PLUGIN_KEY (hex file path) and FAKE_AGE_PLUGIN_PIN).
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64, fromHex, toBase64, toHex } from "../../../lib/core/encoding.ts";
import {
  openX25519,
  sealX25519,
  x25519Generate,
  x25519PublicKey,
} from "../../../lib/crypto/x25519_seal.ts";
import { bech32Decode, bech32Encode } from "../../../lib/seal/bech32.ts";
import type { PluginConnection, PluginLauncher } from "../../../lib/seal/slots/age_plugin.ts";
import { encodeStanza, StanzaReader, type WireStanza } from "../../../lib/seal/slots/age_stanza.ts";

/** The fake token's configuration. */
export interface FakeYubikey {
  readonly privateKey: Uint8Array;
  /** When set, identity-v1 asks for this PIN first. */
  readonly pin?: string;
  /** When set, identity-v1 reports this error instead of unwrapping. */
  readonly failWith?: string;
}

/** A fresh fake token. */
export function newFakeYubikey(o: { pin?: string; failWith?: string } = {}): FakeYubikey {
  return { privateKey: x25519Generate().privateKey.expose(), ...o };
}

/** The token's `age1yubikey1…` recipient. */
export function fakeRecipient(k: FakeYubikey): string {
  return bech32Encode("age1yubikey", x25519PublicKey(k.privateKey));
}

/** Restores the padding age leaves off, for the strict decoder. */
function padded(b64: string): string {
  return b64 + "=".repeat((4 - (b64.length % 4)) % 4);
}

/** Standard base64 without padding, as age stanza arguments use it. */
function b64std(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/=+$/, "");
}

const tagOf = (pub: Uint8Array) => b64std(sha256(pub).subarray(0, 4));

type Write = (bytes: Uint8Array) => Promise<void>;

async function phase1(reader: StanzaReader): Promise<WireStanza[]> {
  const out: WireStanza[] = [];
  for (;;) {
    const s = await reader.next();
    if (s === undefined) throw new Error("client closed during phase 1");
    if (s.args[0] === "done") return out;
    out.push(s);
  }
}

async function ask(
  reader: StanzaReader,
  write: Write,
  args: string[],
  body: string,
): Promise<WireStanza> {
  await write(encodeStanza(args, new TextEncoder().encode(body)));
  const r = await reader.next();
  if (r === undefined) throw new Error("client closed during phase 2");
  return r;
}

async function recipientV1(reader: StanzaReader, write: Write): Promise<void> {
  const cmds = await phase1(reader);
  const recipients = cmds.filter((c) => c.args[0] === "add-recipient").map((c) => c.args[1]!);
  const keys = cmds.filter((c) => c.args[0] === "wrap-file-key").map((c) => c.body);
  for (const [i, r] of recipients.entries()) {
    const d = bech32Decode(r);
    if (d === undefined || d.hrp !== "age1yubikey" || d.data.length !== 32) {
      await ask(reader, write, ["error", "recipient", String(i)], "not a fake yubikey recipient");
      await write(encodeStanza(["done"]));
      return;
    }
  }
  for (const [file, key] of keys.entries()) {
    for (const r of recipients) {
      const pub = bech32Decode(r)!.data;
      const box = sealX25519(pub, key);
      const body = new Uint8Array([...box.nonce, ...box.ciphertext]);
      await write(encodeStanza([
        "recipient-stanza",
        String(file),
        "piv-p256",
        tagOf(pub),
        b64std(box.encapsulatedKey),
      ], body));
      await reader.next(); // ok
    }
  }
  await write(encodeStanza(["done"]));
}

async function identityV1(reader: StanzaReader, write: Write, k: FakeYubikey): Promise<void> {
  const cmds = await phase1(reader);
  const pub = x25519PublicKey(k.privateKey);
  const stanzas = cmds.filter((c) =>
    c.args[0] === "recipient-stanza" && c.args[2] === "piv-p256" && c.args[3] === tagOf(pub)
  );
  if (stanzas.length > 0) {
    await ask(reader, write, ["msg"], "touch your fake YubiKey");
    if (k.failWith !== undefined) {
      await ask(reader, write, ["error", "internal"], k.failWith);
      await write(encodeStanza(["done"]));
      return;
    }
    if (k.pin !== undefined) {
      const r = await ask(reader, write, ["request-secret"], "Enter PIN for fake YubiKey");
      if (r.args[0] !== "ok" || new TextDecoder().decode(r.body) !== k.pin) {
        await ask(reader, write, ["error", "identity", "0"], "wrong PIN or no PIN given");
        await write(encodeStanza(["done"]));
        return;
      }
    }
    const done = new Set<string>();
    for (const s of stanzas) {
      const file = s.args[1]!;
      if (done.has(file)) continue;
      try {
        const key = openX25519(k.privateKey, pub, {
          encapsulatedKey: fromBase64(padded(s.args[4]!)),
          nonce: s.body.subarray(0, 12),
          ciphertext: s.body.subarray(12),
        });
        await write(encodeStanza(["file-key", file], key));
        await reader.next();
        done.add(file);
      } catch {
        await ask(reader, write, ["error", "stanza", file, "0"], "stanza does not open");
      }
    }
  }
  await write(encodeStanza(["done"]));
}

/** Serves one plugin session. */
export async function serveFakePlugin(
  stateMachine: string,
  input: ReadableStream<Uint8Array>,
  write: Write,
  k: FakeYubikey,
): Promise<void> {
  const reader = new StanzaReader(input);
  try {
    if (stateMachine === "recipient-v1") await recipientV1(reader, write);
    else if (stateMachine === "identity-v1") await identityV1(reader, write, k);
    else throw new Error(`unknown state machine ${stateMachine}`);
  } finally {
    reader.release();
  }
}

/** A launcher that runs the fake in process; `calls` records each start. */
export function fakeLauncher(k: FakeYubikey, calls: string[] = []): PluginLauncher {
  return (binary, stateMachine): PluginConnection => {
    calls.push(`${binary} ${stateMachine}`);
    const toPlugin = new TransformStream<Uint8Array, Uint8Array>();
    const toClient = new TransformStream<Uint8Array, Uint8Array>();
    const clientWriter = toPlugin.writable.getWriter();
    const pluginWriter = toClient.writable.getWriter();
    const served = serveFakePlugin(stateMachine, toPlugin.readable, (b) => pluginWriter.write(b), k)
      .finally(() => pluginWriter.close().catch(() => {}));
    return {
      stdout: toClient.readable,
      write: (b) => clientWriter.write(b.slice()),
      async close() {
        await clientWriter.close().catch(() => {});
        await served.catch(() => {});
      },
      kill() {
        clientWriter.abort().catch(() => {});
        pluginWriter.abort().catch(() => {});
      },
    };
  };
}

if (import.meta.main) {
  const sm = Deno.args.find((a) => a.startsWith("--age-plugin="))?.slice("--age-plugin=".length);
  const keyFile = Deno.env.get("FAKE_AGE_PLUGIN_KEY");
  if (sm === undefined || keyFile === undefined) {
    // deno-lint-ignore no-console
    console.error("usage: FAKE_AGE_PLUGIN_KEY=<hex file> fake_age_plugin.ts --age-plugin=<sm>");
    Deno.exit(2);
  }
  const pin = Deno.env.get("FAKE_AGE_PLUGIN_PIN");
  const k: FakeYubikey = {
    privateKey: fromHex(Deno.readTextFileSync(keyFile).trim()),
    ...(pin ? { pin } : {}),
  };
  const out = Deno.stdout.writable.getWriter();
  await serveFakePlugin(sm, Deno.stdin.readable, (b) => out.write(b), k);
  await out.close();
}

/** Hex of a fake token's private key (for the process form). */
export function fakeKeyHex(k: FakeYubikey): string {
  return toHex(k.privateKey);
}
