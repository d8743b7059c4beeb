/**
 * NATS commands: `mint-nats-user` and `sign-nats-jwt` (over the socket;
 * print the token), and `issue-nats-creds` (local only: writes the nsc
 * `.creds` layout for a user JWT and its seed, atomically, mode 0600 or
 * 0660). The seed is read from a 0600 file (`--seed-file`); `--seed` is
 * accepted for compatibility but puts the seed in argv, so it warns.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { utf8 } from "../../core/encoding.ts";
import { readSecretFile, writeFileAtomic } from "../../core/fs.ts";
import { CredsError, formatCreds } from "../../nats/creds.ts";
import { NatsJtiMode, NatsJwtType, NatsService } from "../../wire/basil/broker/v1/broker_pb.ts";
import { withClient } from "../client.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { collect, intArg } from "../options.ts";

const MAX_TTL = 10 * 365 * 86400;

const TYPES: Readonly<Record<string, NatsJwtType>> = {
  user: NatsJwtType.USER,
  account: NatsJwtType.ACCOUNT,
  operator: NatsJwtType.OPERATOR,
  signer: NatsJwtType.SIGNER,
  server: NatsJwtType.SERVER,
  curve: NatsJwtType.CURVE,
};

const seconds = (n: number | undefined) =>
  n === undefined ? undefined : { seconds: BigInt(n), nanos: 0 };

function readText(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${e instanceof Error ? e.name : "error"}`);
  }
}

/** Registers `mint-nats-user`, `sign-nats-jwt` and `issue-nats-creds`. */
export function registerNatsCommands(program: Command, ctx: CliContext): void {
  program.command("mint-nats-user")
    .description("Mint a NATS user JWT signed in place by an account key (nats_type=A)")
    .requiredOption("--key-id <id>", "catalog key id of the account (or account signing) key")
    .requiredOption("--user-nkey <nkey>", "the user's public NKey (U…)")
    .option("--issuer-account <nkey>", "the account's public NKey, when --key-id is a signing key")
    .option("--name <name>", "the JWT's name", "basil-user")
    .option("--ttl-secs <n>", "lifetime in seconds (default: no expiry)", intArg(1, MAX_TTL))
    .option("--pub-allow <subject>", "subject the user may publish to (repeatable)", collect, [])
    .option("--pub-deny <subject>", "subject the user may not publish to (repeatable)", collect, [])
    .option("--sub-allow <subject>", "subject the user may subscribe to (repeatable)", collect, [])
    .option(
      "--sub-deny <subject>",
      "subject the user may not subscribe to (repeatable)",
      collect,
      [],
    )
    .action(async (o) => {
      const r = await withClient(ctx.socket(), (c) =>
        c.unary(NatsService.method.mintNatsUser, {
          keyId: o.keyId,
          subjectUserNkey: o.userNkey,
          name: o.name,
          ttl: seconds(o.ttlSecs),
          pubAllow: o.pubAllow,
          pubDeny: o.pubDeny,
          subAllow: o.subAllow,
          subDeny: o.subDeny,
          issuerAccount: o.issuerAccount,
        }));
      ctx.io.out(`${r.token}\n`);
    });

  program.command("sign-nats-jwt")
    .description("Sign NATS JWT claims with an issuer key (iss, iat, exp and jti set by Basil)")
    .requiredOption("--key-id <id>", "catalog key id of the issuer (nats_type O or A)")
    .option("--claims-json <json>", "the claims, a JSON object")
    .option("--claims-file <path>", "read the claims from a file")
    .option("--expect-type <type>", "user, account, operator, signer, server or curve")
    .option("--ttl-secs <n>", "lifetime in seconds", intArg(1, MAX_TTL))
    .option("--expires-at-unix <t>", "expiry, unix seconds", intArg(1, Number.MAX_SAFE_INTEGER))
    .option("--issued-at-unix <t>", "issued-at, unix seconds", intArg(1, Number.MAX_SAFE_INTEGER))
    .option("--rewrite-jti", "recompute the jti instead of checking a supplied one")
    .action(async (o) => {
      if ((o.claimsJson === undefined) === (o.claimsFile === undefined)) {
        throw new CliError("give exactly one of --claims-json and --claims-file", 2);
      }
      if (o.ttlSecs !== undefined && o.expiresAtUnix !== undefined) {
        throw new CliError("--ttl-secs and --expires-at-unix are mutually exclusive", 2);
      }
      const type = o.expectType === undefined ? NatsJwtType.UNSPECIFIED : TYPES[o.expectType];
      if (type === undefined) {
        throw new CliError(`--expect-type must be one of ${Object.keys(TYPES).join(", ")}`, 2);
      }
      const claims = o.claimsJson ?? readText(o.claimsFile!, "claims file");
      const r = await withClient(ctx.socket(), (c) =>
        c.unary(NatsService.method.signNatsJwt, {
          keyId: o.keyId,
          claimsJson: utf8(claims),
          expectedType: type,
          ttl: seconds(o.ttlSecs),
          expiresAt: seconds(o.expiresAtUnix),
          issuedAt: seconds(o.issuedAtUnix),
          jtiMode: o.rewriteJti ? NatsJtiMode.REWRITE : NatsJtiMode.REQUIRE_VALID,
        }));
      ctx.io.out(`${r.token}\n`);
    });

  program.command("issue-nats-creds")
    .description("Write a NATS .creds file (nsc layout) from a user JWT and its seed (local only)")
    .option("--jwt <jwt>", "the user JWT")
    .option("--jwt-file <path>", "read the user JWT from a file")
    .option("--seed <seed>", "the user seed (visible in argv: prefer --seed-file)")
    .option("--seed-file <path>", "read the user seed from a file (mode 0600)")
    .requiredOption("--out-file <path>", "the .creds file to write (atomically)")
    .option("--mode <mode>", "0600 or 0660", "0600")
    .action((o) => {
      if ((o.jwt === undefined) === (o.jwtFile === undefined)) {
        throw new CliError("give exactly one of --jwt and --jwt-file", 2);
      }
      if ((o.seed === undefined) === (o.seedFile === undefined)) {
        throw new CliError("give exactly one of --seed and --seed-file", 2);
      }
      if (o.mode !== "0600" && o.mode !== "0660") {
        throw new CliError("--mode must be 0600 or 0660", 2);
      }
      const jwt = o.jwt ?? readText(o.jwtFile!, "JWT file");
      if (o.seed !== undefined) {
        ctx.io.err("warning: --seed puts the seed in the process arguments; use --seed-file\n");
      }
      using seed = o.seedFile !== undefined
        ? readSecretFile(o.seedFile, { what: "seed-file", requireOwnerOnly: true })
        : { expose: () => utf8(o.seed!), [Symbol.dispose]() {} };
      let creds: Uint8Array;
      try {
        creds = formatCreds(jwt, seed.expose());
      } catch (e) {
        if (e instanceof CredsError) throw new CliError(e.message);
        throw e;
      }
      try {
        writeFileAtomic(o.outFile, creds, { mode: o.mode === "0660" ? 0o660 : 0o600 });
      } finally {
        creds.fill(0);
      }
      ctx.io.out(`wrote ${o.outFile}\n`);
    });
}
