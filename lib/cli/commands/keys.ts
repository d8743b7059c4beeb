/**
 * Tier 2 key commands: `new-key`, `import`, `import-set`, `sign`, `verify`.
 * Private key material comes from files (or, for compatibility, `--seed-hex`
 * with a warning) and is wiped after the call.
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { fromHex, toHex } from "../../core/encoding.ts";
import { KEY_TYPES } from "../../core/ops.ts";
import type { KeyType } from "../../core/ops.ts";
import { readSecretFile } from "../../core/fs.ts";
import { verifyMessage } from "../../crypto/signing.ts";
import { keyTypeFromWire, keyTypeToWire } from "../../service/enums.ts";
import { KeyType as WireKeyType, SigningService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { KeyMaterialSchema } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { hexArg } from "../options.ts";
import { readPayload } from "./payload.ts";
import { withClient } from "./secrets.ts";

type Material = MessageInitShape<typeof KeyMaterialSchema>;

function wireType(kt: KeyType | undefined): WireKeyType {
  if (kt === undefined) return WireKeyType.UNSPECIFIED;
  const w = keyTypeToWire(kt);
  if (w === WireKeyType.UNSPECIFIED) {
    throw new CliError(`--key-type ${kt} is not a signing key type`, 2);
  }
  return w;
}

function printKey(ctx: CliContext, keyId: string, publicKey: Uint8Array): void {
  ctx.io.out(`key_id: ${keyId}\npublic_key: ${toHex(publicKey)}\n`);
}

function readMaterial(
  ctx: CliContext,
  o: { seedHex?: string; seedFile?: string; pkcs8File?: string },
): Material {
  const given = [o.seedHex, o.seedFile, o.pkcs8File].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw new CliError("give exactly one of --seed-file, --pkcs8-file, --seed-hex", 2);
  }
  if (o.seedHex !== undefined) {
    ctx.io.err("warning: --seed-hex puts key material in argv; prefer --seed-file\n");
    let seed: Uint8Array;
    try {
      seed = fromHex(o.seedHex);
    } catch {
      throw new CliError("--seed-hex must be 64 hex digits", 2);
    }
    return { material: { case: "ed25519Seed", value: seed } };
  }
  if (o.seedFile !== undefined) {
    const seed = readSecretFile(o.seedFile, { what: "seed-file", requireOwnerOnly: true }).expose();
    return { material: { case: "ed25519Seed", value: seed } };
  }
  const der = readSecretFile(o.pkcs8File!, { what: "pkcs8-file", requireOwnerOnly: true }).expose();
  return { material: { case: "pkcs8Der", value: der } };
}

function wipeMaterial(m: Material): void {
  const v = m.material?.value;
  if (v instanceof Uint8Array) v.fill(0);
}

/** `--check`: the broker signs a fresh challenge, verified here with the returned public key. */
async function check(
  ctx: CliContext,
  keyId: string,
  publicKey: Uint8Array,
  keyType: WireKeyType | undefined,
): Promise<void> {
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const sig = await withClient(
    ctx.socket(),
    (c) => c.unary(SigningService.method.sign, { keyId, message: challenge }),
  );
  const kt = keyType === undefined ? undefined : keyTypeFromWire(keyType);
  if (!kt || !verifyMessage(kt, publicKey, challenge, sig.signature)) {
    throw new CliError(`check failed: ${keyId} did not sign a challenge with the imported key`);
  }
  ctx.io.out(`check: ok\n`);
}

/** Registers the key commands. */
export function registerKeyCommands(program: Command, ctx: CliContext): void {
  program.command("new-key")
    .description("Create a catalog key's first version where it lives")
    .requiredOption("--key-id <id>", "catalog key id")
    .addOption(new Option("--key-type <type>", "must match the catalog keyType").choices(KEY_TYPES))
    .action(async (o) => {
      const r = await withClient(
        ctx.socket(),
        (c) =>
          c.unary(SigningService.method.newKey, { keyId: o.keyId, keyType: wireType(o.keyType) }),
      );
      printKey(ctx, r.keyId, r.publicKey);
    });

  program.command("import")
    .description("Import a private key (BYOK) as a catalog key's first version")
    .requiredOption("--key-id <id>", "catalog key id")
    .addOption(new Option("--key-type <type>", "must match the catalog keyType").choices(KEY_TYPES))
    .option("--seed-file <path>", "32-byte raw Ed25519 seed (mode 0600)")
    .option("--pkcs8-file <path>", "PKCS#8 DER private key (mode 0600)")
    .option("--seed-hex <hex>", "Ed25519 seed as 64 hex digits (visible in argv)")
    .option("--check", "have the agent sign a challenge and verify it with the imported key")
    .action(async (o) => {
      const material = readMaterial(ctx, o);
      try {
        const r = await withClient(ctx.socket(), (c) =>
          c.unary(SigningService.method.import, {
            keyId: o.keyId,
            keyType: wireType(o.keyType),
            material,
          }));
        printKey(ctx, r.keyId, r.publicKey);
        if (o.check) await check(ctx, r.keyId, r.publicKey, wireType(o.keyType ?? "ed25519"));
      } finally {
        wipeMaterial(material);
      }
    });

  program.command("import-set")
    .description("Import several keys at once: all or none")
    .requiredOption("--file <path>", "JSON [{key_id, key_type?, seed_hex|seed_file|pkcs8_file}]")
    .option("--check", "verify each imported key by a signed challenge")
    .action(async (o) => {
      let entries: {
        key_id?: unknown;
        key_type?: unknown;
        seed_hex?: unknown;
        seed_file?: unknown;
        pkcs8_file?: unknown;
      }[];
      try {
        entries = JSON.parse(Deno.readTextFileSync(o.file));
        if (!Array.isArray(entries)) throw new Error();
      } catch {
        throw new CliError(`--file ${o.file}: expected a JSON array of entries`);
      }
      const wire = entries.map((e, i) => {
        if (typeof e.key_id !== "string") {
          throw new CliError(`--file entry ${i}: key_id is required`);
        }
        const kt = (e.key_type ?? "ed25519") as KeyType;
        if (!KEY_TYPES.includes(kt)) throw new CliError(`--file entry ${i}: unknown key_type`);
        const str = (v: unknown) => (typeof v === "string" ? v : undefined);
        const material = readMaterial(
          { ...ctx, io: { ...ctx.io, err: () => {} } },
          { seedHex: str(e.seed_hex), seedFile: str(e.seed_file), pkcs8File: str(e.pkcs8_file) },
        );
        return { keyId: e.key_id, keyType: wireType(kt), material };
      });
      try {
        const r = await withClient(
          ctx.socket(),
          (c) => c.unary(SigningService.method.importSet, { entries: wire }),
        );
        for (const [i, k] of r.keys.entries()) {
          printKey(ctx, k.keyId, k.publicKey);
          if (o.check) await check(ctx, k.keyId, k.publicKey, wire[i]!.keyType);
        }
      } finally {
        for (const w of wire) wipeMaterial(w.material);
      }
    });

  program.command("sign")
    .description("Sign a message with a catalog key (the key never leaves); prints hex")
    .requiredOption("--key-id <id>", "catalog key id")
    .option("--message-file <path>", "read the message from a file (- for stdin)")
    .argument("[message]", "the message (UTF-8), or - for stdin")
    .action(async (message, o) => {
      const bytes = await readPayload(ctx, message, o.messageFile, "message-file");
      const r = await withClient(
        ctx.socket(),
        (c) => c.unary(SigningService.method.sign, { keyId: o.keyId, message: bytes }),
      );
      ctx.io.out(`${toHex(r.signature)}\n`);
    });

  program.command("verify")
    .description("Verify a signature with a catalog key; prints true or false (exit 1)")
    .requiredOption("--key-id <id>", "catalog key id")
    .requiredOption("--signature <hex>", "the signature", hexArg)
    .option("--message-file <path>", "read the message from a file (- for stdin)")
    .argument("[message]", "the message (UTF-8), or - for stdin")
    .action(async (message, o) => {
      const bytes = await readPayload(ctx, message, o.messageFile, "message-file");
      const r = await withClient(ctx.socket(), (c) =>
        c.unary(SigningService.method.verify, {
          keyId: o.keyId,
          message: bytes,
          signature: o.signature,
        }));
      ctx.io.out(`${r.valid}\n`);
      if (!r.valid) ctx.exitCode = 1;
    });
}
