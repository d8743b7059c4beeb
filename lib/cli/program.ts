/**
 * The `basil` command line: every subcommand, global `--socket`, and the
 * mapping of failures to exit codes (0 ok; 1 runtime error, `verify` false,
 * `ready` not ready; 2 usage error). Errors print `Error: <message>`.
 * @module
 */

import { Command, CommanderError } from "@commander-js/extra-typings";
import { DEFAULT_SOCKET } from "../config/schema.ts";
import { BasilError, InputError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";
import { registerAdminCommands } from "./commands/admin.ts";
import { registerAeadCommands } from "./commands/aead.ts";
import { registerKeyCommands } from "./commands/keys.ts";
import { registerMintCommands } from "./commands/mint.ts";
import { registerRevokeCommand } from "./commands/revoke.ts";
import { registerCertCommand } from "./commands/cert.ts";
import { registerAgentCommand } from "./commands/agent.ts";
import { registerBundleCommands } from "./commands/bundle.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerExplainCommand } from "./commands/explain.ts";
import { registerSecretCommands } from "./commands/secrets.ts";
import type { CliContext } from "./context.ts";
import { CliError, processIo } from "./io.ts";
import type { Io } from "./io.ts";

/** Environment variables the CLI may read (deno.json's `basil` task grants exactly these). */
export const CLI_ENV = [
  "BASIL_SOCKET",
  "BASIL_CONFIG",
  "BASIL_CATALOG",
  "BASIL_POLICY",
  "BASIL_BUNDLE",
  "BASIL_LIBC",
  "BASIL_LIBNGHTTP2",
  "BASIL_TSS2_DIR",
  "BASIL_TPM_TCTI",
  "VAULT_ADDR",
  "TMPDIR",
] as const;

function buildProgram(ctx: CliContext) {
  const program = new Command("basil")
    .description("Basil: a host-local secrets broker (agent and CLI)")
    .version(VERSION, "-V, --version")
    .option("--socket <path>", `agent socket (env BASIL_SOCKET, default ${DEFAULT_SOCKET})`)
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) });
  const cmd = program as unknown as Command;
  registerAgentCommand(cmd, ctx);
  registerSecretCommands(cmd, ctx);
  registerKeyCommands(cmd, ctx);
  registerAeadCommands(cmd, ctx);
  registerMintCommands(cmd, ctx);
  registerRevokeCommand(cmd, ctx);
  registerCertCommand(cmd, ctx);
  registerAdminCommands(cmd, ctx);
  registerExplainCommand(cmd, ctx);
  registerBundleCommands(cmd, ctx);
  registerDemoCommand(cmd, ctx, runCli);
  return program;
}

/** Options for {@linkcode runCli}. */
export interface RunCliOptions {
  io?: Io;
  env?: (name: string) => string | undefined;
  cwd?: string;
}

/** Runs the CLI on `argv`; returns the exit code. */
export async function runCli(
  argv: readonly string[],
  options: RunCliOptions = {},
): Promise<number> {
  const io = options.io ?? processIo;
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const built: { program?: ReturnType<typeof buildProgram> } = {};
  const explicitSocket = () => built.program?.opts().socket ?? env("BASIL_SOCKET");
  const ctx: CliContext = {
    io,
    env,
    cwd: options.cwd ?? Deno.cwd(),
    socket: () => explicitSocket() ?? DEFAULT_SOCKET,
    explicitSocket,
    exitCode: 0,
  };
  const program = buildProgram(ctx);
  built.program = program;
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" ||
          e.exitCode === 0
        ? 0
        : 2;
    }
    if (e instanceof CliError) {
      io.err(`Error: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof InputError || e instanceof BasilError) {
      io.err(`Error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof Deno.errors.NotCapable) {
      io.err(`Error: not permitted by the CLI's sandbox: ${e.message}\n`);
      return 1;
    }
    io.err(`Error: ${e instanceof Error ? `${e.name}: ${e.message}` : "unexpected failure"}\n`);
    return 1;
  }
}
