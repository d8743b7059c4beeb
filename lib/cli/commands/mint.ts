/**
 * `mint-jwt`: a JWT signed in place by a catalog key. Prints the token, then
 * `expires_at: <RFC 3339>`.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { utf8 } from "../../core/encoding.ts";
import { MintingService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { intArg } from "../options.ts";
import { withClient } from "../client.ts";

/** Registers `mint-jwt`. */
export function registerMintCommands(program: Command, ctx: CliContext): void {
  program.command("mint-jwt")
    .description("Mint a JWT signed in place by a catalog key (EdDSA, ES256, ES384, RS256)")
    .requiredOption("--key-id <id>", "catalog key id")
    .requiredOption("--sub <subject>", "the `sub` claim")
    .option("--ttl-secs <n>", "lifetime in seconds (default 300)", intArg(1, 10 * 365 * 86400))
    .option("--claims-json <json>", "extra claims, a JSON object")
    .action(async (o) => {
      if (o.claimsJson !== undefined) {
        let v: unknown;
        try {
          v = JSON.parse(o.claimsJson);
        } catch {
          throw new CliError("--claims-json is not valid JSON", 2);
        }
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
          throw new CliError("--claims-json must be a JSON object", 2);
        }
      }
      const r = await withClient(ctx.socket(), (c) =>
        c.unary(MintingService.method.mintJwt, {
          keyId: o.keyId,
          subject: o.sub,
          ttl: o.ttlSecs === undefined ? undefined : { seconds: BigInt(o.ttlSecs), nanos: 0 },
          extraClaimsJson: o.claimsJson === undefined ? new Uint8Array() : utf8(o.claimsJson),
        }));
      ctx.io.out(`${r.token}\n`);
      if (r.expiresAt) {
        ctx.io.out(
          `expires_at: ${timestampDate(r.expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z")}\n`,
        );
      }
    });
}
