/**
 * The `basil` command line: every subcommand, global `--socket`, and the
 * mapping of failures to exit codes (0 ok; 1 runtime error, `verify` false,
 * `ready` not ready, `reload` rejected, `doctor` fatal; 2 usage error).
 * Errors print `Error: <message>`.
 *
 * Start-up cost: a run loads only the module of the command it runs (the
 * {@linkcode COMMAND_MODULES} table); help, completions, the man page and an
 * unknown command load them all. tests/unit/cli/program_test.ts checks that
 * the table names exactly what each module registers.
 * @module
 */

import { Command, CommanderError } from "@commander-js/extra-typings";
import { DEFAULT_SOCKET } from "../config/schema.ts";
import { BasilError, InputError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";
import type { CliContext } from "./context.ts";
import { CliError, processIo, StdoutClosed } from "./io.ts";
import type { Io } from "./io.ts";

/** Environment variables the CLI may read (deno.json's `basil` task grants exactly these). */
export const CLI_ENV = [
  "BASIL_SOCKET",
  "BASIL_CONFIG",
  "BASIL_CATALOG",
  "BASIL_POLICY",
  "BASIL_BUNDLE",
  "BASIL_NATS_BRIDGE_CONFIG",
  "BASIL_LIBC",
  "BASIL_LIBNGHTTP2",
  "BASIL_TSS2_DIR",
  "BASIL_TPM_TCTI",
  "VAULT_ADDR",
  "TMPDIR",
] as const;

/** What a command module may need besides the program and the context. */
export interface RegisterExtras {
  /** The program's own entry point (the demo runs the CLI). */
  readonly runCli: typeof runCli;
  /** Builds the whole program, every command registered (completions, man page). */
  readonly fullProgram: () => Promise<Command>;
}

/** Adds a module's commands to `program`. */
export type Register = (program: Command, ctx: CliContext, extras: RegisterExtras) => void;

/** A command module: the top-level commands it registers, and its loader. */
export interface CommandModule {
  readonly commands: readonly string[];
  readonly load: () => Promise<Register>;
}

/**
 * Imports `commands/<name>.ts`. The specifier is computed on purpose: Deno
 * loads every statically written dynamic import with the importing module,
 * which would bring back the cost this table avoids. (`deno compile` gets
 * the modules through its `--include lib/cli/commands/`.)
 */
function load<M>(name: string): Promise<M> {
  const specifier = "./commands/" + name + ".ts";
  return import(specifier) as Promise<M>;
}

/** Every command module, in help order. */
export const COMMAND_MODULES: readonly CommandModule[] = [
  {
    commands: ["agent"],
    load: async () =>
      (await load<typeof import("./commands/agent.ts")>("agent")).registerAgentCommand,
  },
  {
    commands: ["get", "set", "rotate", "list"],
    load: async () =>
      (await load<typeof import("./commands/secrets.ts")>("secrets")).registerSecretCommands,
  },
  {
    commands: ["new-key", "import", "import-set", "sign", "verify"],
    load: async () => (await load<typeof import("./commands/keys.ts")>("keys")).registerKeyCommands,
  },
  {
    commands: ["encrypt", "decrypt"],
    load: async () =>
      (await load<typeof import("./commands/aead.ts")>("aead")).registerAeadCommands,
  },
  {
    commands: ["mint-jwt"],
    load: async () =>
      (await load<typeof import("./commands/mint.ts")>("mint")).registerMintCommands,
  },
  {
    commands: ["mint-nats-user", "sign-nats-jwt", "issue-nats-creds"],
    load: async () =>
      (await load<typeof import("./commands/nats.ts")>("nats")).registerNatsCommands,
  },
  {
    commands: ["revoke"],
    load: async () =>
      (await load<typeof import("./commands/revoke.ts")>("revoke")).registerRevokeCommand,
  },
  {
    commands: ["issue-cert"],
    load: async () => (await load<typeof import("./commands/cert.ts")>("cert")).registerCertCommand,
  },
  {
    commands: ["status", "health", "ready"],
    load: async () =>
      (await load<typeof import("./commands/admin.ts")>("admin")).registerAdminCommands,
  },
  {
    commands: ["reload"],
    load: async () =>
      (await load<typeof import("./commands/reload.ts")>("reload")).registerReloadCommand,
  },
  {
    commands: ["explain"],
    load: async () =>
      (await load<typeof import("./commands/explain.ts")>("explain")).registerExplainCommand,
  },
  {
    commands: ["doctor"],
    load: async () =>
      (await load<typeof import("./commands/doctor.ts")>("doctor")).registerDoctorCommand,
  },
  {
    commands: ["init"],
    load: async () => (await load<typeof import("./commands/init.ts")>("init")).registerInitCommand,
  },
  {
    commands: ["bundle"],
    load: async () =>
      (await load<typeof import("./commands/bundle.ts")>("bundle")).registerBundleCommands,
  },
  {
    commands: ["audit"],
    load: async () =>
      (await load<typeof import("./commands/audit.ts")>("audit")).registerAuditCommands,
  },
  {
    commands: ["nats-bridge"],
    load: async () =>
      (await load<typeof import("./commands/nats_bridge.ts")>("nats_bridge"))
        .registerNatsBridgeCommand,
  },
  {
    commands: ["demo"],
    load: async () => {
      const { registerDemoCommand } = await load<typeof import("./commands/demo.ts")>("demo");
      return (program, ctx, extras) => registerDemoCommand(program, ctx, extras.runCli);
    },
  },
  {
    commands: ["completions", "man"],
    load: async () => (await load<typeof import("./commands/docs.ts")>("docs")).registerDocCommands,
  },
];

/** The top-level command `argv` runs, if any (global options come first). */
export function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--socket") {
      i++;
      continue;
    }
    if (a === "--") return argv[i + 1];
    if (a.startsWith("-")) continue;
    return a;
  }
  return undefined;
}

/** The modules a run of `argv` needs: the one owning its command, else all. */
export function modulesFor(argv: readonly string[]): readonly CommandModule[] {
  const name = commandOf(argv);
  const owner = COMMAND_MODULES.find((m) => name !== undefined && m.commands.includes(name));
  if (owner === undefined || owner.commands.includes("completions")) return COMMAND_MODULES;
  // `basil get --help` needs only `get`; `basil --help get` lists everything.
  if (argv.indexOf(name!) > 0 && argv.slice(0, argv.indexOf(name!)).some(isHelpFlag)) {
    return COMMAND_MODULES;
  }
  return [owner];
}

const isHelpFlag = (a: string) => a === "-h" || a === "--help";

function baseProgram(ctx: CliContext) {
  return new Command("basil")
    .description("Basil: a host-local secrets broker (agent and CLI)")
    .version(VERSION, "-V, --version")
    .option("--socket <path>", `agent socket (env BASIL_SOCKET, default ${DEFAULT_SOCKET})`)
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) });
}

/** Builds the program with the commands of `modules` registered. */
export async function buildProgram(
  ctx: CliContext,
  modules: readonly CommandModule[] = COMMAND_MODULES,
): Promise<ReturnType<typeof baseProgram>> {
  const program = baseProgram(ctx);
  const extras: RegisterExtras = { runCli, fullProgram: () => fullProgram(ctx) };
  const registers = await Promise.all(modules.map((m) => m.load()));
  for (const r of registers) r(program as unknown as Command, ctx, extras);
  return program;
}

async function fullProgram(ctx: CliContext): Promise<Command> {
  return (await buildProgram(ctx)) as unknown as Command;
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
  const built: { program?: ReturnType<typeof baseProgram> } = {};
  const explicitSocket = () => built.program?.opts().socket ?? env("BASIL_SOCKET");
  const ctx: CliContext = {
    io,
    env,
    cwd: options.cwd ?? Deno.cwd(),
    socket: () => explicitSocket() ?? DEFAULT_SOCKET,
    explicitSocket,
    exitCode: 0,
  };
  try {
    const program = await buildProgram(ctx, modulesFor(argv));
    built.program = program;
    await program.parseAsync([...argv], { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof StdoutClosed) return ctx.exitCode;
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
