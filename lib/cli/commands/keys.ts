/**
 * Tier 2 key commands: `new-key`, `import`, `import-set`, `sign`, `verify`.
 * Private key material comes from files (or, for compatibility, `--seed-hex`
 * with a warning) and is wiped after the call (see key_import.ts).
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { toHex } from "../../core/encoding.ts";
import { KEY_TYPES } from "../../core/ops.ts";
import { SigningService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { hexArg } from "../options.ts";
import {
  catalogKeyType,
  checkImported,
  checkMaterialType,
  printKey,
  readMaterial,
  runImportSet,
  wipeMaterial,
  wireType,
} from "./key_import.ts";
import { readPayload } from "./payload.ts";
import { withClient } from "../client.ts";

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
    .option(
      "--check",
      "check the material's type against --key-type or the catalog keyType first, then " +
        "have the agent sign a challenge and verify it with the imported key",
    )
    .action(async (o) => {
      const material = readMaterial(o, (t) => ctx.io.err(t));
      try {
        const keyType = wireType(o.keyType);
        // --check: the material must be of the key's type, checked here before anything
        // is sent. The expected type is --key-type when given, else the catalog's
        // keyType (never a guess: a wrong default would only fail later, less clearly).
        const local = o.check
          ? checkMaterialType(
            material,
            o.keyType !== undefined ? { keyType: o.keyType, field: "--key-type" } : {
              keyType: await catalogKeyType(ctx, o.keyId),
              field: `the catalog keyType of ${o.keyId}`,
            },
          )
          : undefined;
        const r = await withClient(
          ctx.socket(),
          (c) => c.unary(SigningService.method.import, { keyId: o.keyId, keyType, material }),
        );
        printKey(ctx, r.keyId, r.publicKey);
        if (local) {
          await checkImported(ctx, r.keyId, r.publicKey, local);
          ctx.io.out("check: ok\n");
        }
      } finally {
        wipeMaterial(material);
      }
    });

  program.command("import-set")
    .description("Import several keys at once: all or none")
    .requiredOption("--file <path>", "JSON [{key_id, key_type?, seed_hex|seed_file|pkcs8_file}]")
    .option("--check", "check each key's type locally, then verify each by a signed challenge")
    .action(async (o) => {
      await runImportSet(ctx, o.file, o.check ?? false);
    });

  program.command("sign")
    .description("Sign a message with a catalog key (the key never leaves); prints hex")
    .requiredOption("--key-id <id>", "catalog key id")
    .option("--message-file <path>", "read the message from a file (- for stdin)")
    .argument("[message]", "the message (UTF-8), or - for stdin")
    .action(async (message, o) => {
      const bytes = await readPayload(ctx, message, o.messageFile, "message-file");
      try {
        const r = await withClient(
          ctx.socket(),
          (c) => c.unary(SigningService.method.sign, { keyId: o.keyId, message: bytes }),
        );
        ctx.io.out(`${toHex(r.signature)}\n`);
      } finally {
        bytes.fill(0);
      }
    });

  program.command("verify")
    .description("Verify a signature with a catalog key; prints true or false (exit 1)")
    .requiredOption("--key-id <id>", "catalog key id")
    .requiredOption("--signature <hex>", "the signature", hexArg)
    .option("--message-file <path>", "read the message from a file (- for stdin)")
    .argument("[message]", "the message (UTF-8), or - for stdin")
    .action(async (message, o) => {
      const bytes = await readPayload(ctx, message, o.messageFile, "message-file");
      try {
        const r = await withClient(ctx.socket(), (c) =>
          c.unary(SigningService.method.verify, {
            keyId: o.keyId,
            message: bytes,
            signature: o.signature,
          }));
        ctx.io.out(`${r.valid}\n`);
        if (!r.valid) ctx.exitCode = 1;
      } finally {
        bytes.fill(0);
      }
    });
}
