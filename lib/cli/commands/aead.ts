/**
 * `encrypt` and `decrypt`: the agent owns the nonce; the CLI prints and
 * takes the envelope as hex fields. `--algorithm` accepts the contract's
 * `aes256-gcm` and the catalog's `aes-256-gcm`.
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { toHex } from "../../core/encoding.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import { AeadAlgorithm, AeadService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { hexArg, intArg } from "../options.ts";
import { readPayload } from "./payload.ts";
import { withClient } from "../client.ts";

const ALGS = ["aes256-gcm", "aes-256-gcm", "chacha20-poly1305"] as const;

function wireAlg(a: typeof ALGS[number]): AeadAlgorithm {
  return a === "chacha20-poly1305" ? AeadAlgorithm.CHACHA20_POLY1305 : AeadAlgorithm.AES_256_GCM;
}

/** Registers the AEAD commands. */
export function registerAeadCommands(program: Command, ctx: CliContext): void {
  program.command("encrypt")
    .description("Encrypt with a catalog key; the agent chooses the nonce")
    .requiredOption("--key-id <id>", "catalog key id")
    .addOption(new Option("--algorithm <alg>", "AEAD").choices(ALGS).default("aes256-gcm" as const))
    .option("--aad-hex <hex>", "additional authenticated data", hexArg)
    .option("--plaintext-file <path>", "read the plaintext from a file (- for stdin)")
    .argument("[plaintext]", "the plaintext (UTF-8), or - for stdin")
    .action(async (plaintext, o) => {
      const bytes = await readPayload(ctx, plaintext, o.plaintextFile, "plaintext-file");
      try {
        const r = await withClient(ctx.socket(), (c) =>
          c.unary(AeadService.method.encrypt, {
            keyId: o.keyId,
            algorithm: wireAlg(o.algorithm),
            plaintext: bytes,
            aad: o.aadHex,
          }));
        const env = r.envelope!;
        const alg = env.alg === AeadAlgorithm.CHACHA20_POLY1305
          ? "chacha20-poly1305"
          : "aes256-gcm";
        ctx.io.out(
          `algorithm: ${alg}\nversion: ${env.keyVersion}\nnonce: ${toHex(env.nonce)}\nciphertext: ${
            toHex(env.ciphertext)
          }\n`,
        );
      } finally {
        bytes.fill(0);
      }
    });

  program.command("decrypt")
    .description("Decrypt an envelope with a catalog key; prints hex (or --format raw)")
    .requiredOption("--key-id <id>", "catalog key id")
    .addOption(new Option("--algorithm <alg>", "AEAD").choices(ALGS).default("aes256-gcm" as const))
    .requiredOption("--version <n>", "key version from encrypt", intArg(1, 0xffffffff))
    .requiredOption("--nonce <hex>", "nonce from encrypt", hexArg)
    .requiredOption("--ciphertext <hex>", "ciphertext from encrypt", hexArg)
    .option("--aad-hex <hex>", "additional authenticated data", hexArg)
    .addOption(
      new Option("--format <format>", "output").choices(["hex", "raw"] as const).default(
        "hex" as const,
      ),
    )
    .option("--out-file <path>", "write the plaintext to a file (atomic, mode 0600)")
    .action(async (o) => {
      const r = await withClient(ctx.socket(), (c) =>
        c.unary(AeadService.method.decrypt, {
          keyId: o.keyId,
          envelope: {
            alg: wireAlg(o.algorithm),
            keyVersion: o.version,
            nonce: o.nonce,
            ciphertext: o.ciphertext,
          },
          aad: o.aadHex,
        }));
      try {
        if (o.outFile !== undefined) writeFileAtomic(o.outFile, r.plaintext);
        else if (o.format === "raw") ctx.io.outBytes(r.plaintext);
        else ctx.io.out(`${toHex(r.plaintext)}\n`);
      } finally {
        r.plaintext.fill(0);
      }
    });
}
