/**
 * `revoke`: deny-list a JWT-SVID by (trust domain, jti) until it expires.
 * Needs an explicit `op:revoke` grant on `broker.revoke` and a configured
 * `revocation_store=jwt-svid` value key (the entry survives restarts).
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { AdminService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { intArg } from "../options.ts";
import { withClient } from "../client.ts";

/** Registers `revoke`. */
export function registerRevokeCommand(program: Command, ctx: CliContext): void {
  program.command("revoke")
    .description("Revoke a JWT-SVID by trust domain and jti (persisted deny-list)")
    .requiredOption("--trust-domain <td>", "trust domain, without spiffe://")
    .requiredOption("--jti <jti>", "the token's jti")
    .requiredOption(
      "--expires-at-unix <secs>",
      "when the entry may be forgotten",
      intArg(1, Number.MAX_SAFE_INTEGER),
    )
    .option("--json", "one-line JSON")
    .action(async (o) => {
      const r = await withClient(ctx.socket(), (c) =>
        c.unary(AdminService.method.revoke, {
          trustDomain: o.trustDomain,
          jti: o.jti,
          expiresAtUnix: BigInt(o.expiresAtUnix),
        }));
      const obj = {
        trust_domain: r.trustDomain,
        jti: r.jti,
        expires_at_unix: Number(r.expiresAtUnix),
        persisted: r.persisted,
      };
      if (o.json) ctx.io.out(JSON.stringify(obj) + "\n");
      else for (const [k, v] of Object.entries(obj)) ctx.io.out(`${k}: ${v}\n`);
    });
}
