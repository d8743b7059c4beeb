/**
 * The command tree as plain data, read from the commander definitions the
 * CLI runs with, so the shell completions and the man page cannot drift
 * from the commands themselves.
 * @module
 */

import type { Command, Option } from "commander";

/** One option of a command. */
export interface OptionDoc {
  /** `-c`, when there is a short form. */
  readonly short: string | undefined;
  /** `--config`. */
  readonly long: string;
  readonly description: string;
  /** Whether it takes a value, and its placeholder (`<file>`). */
  readonly value: string | undefined;
  /** The fixed set of values, when there is one. */
  readonly choices: readonly string[] | undefined;
}

/** One command, its path from the program (`["bundle", "create"]`). */
export interface CommandDoc {
  readonly path: readonly string[];
  readonly description: string;
  readonly options: readonly OptionDoc[];
  /** Positional arguments as shown in usage (`<file>`, `[value]`). */
  readonly args: readonly string[];
  readonly subcommands: readonly CommandDoc[];
}

const HELP: OptionDoc = {
  short: "-h",
  long: "--help",
  description: "display help for command",
  value: undefined,
  choices: undefined,
};

function optionDoc(o: Option): OptionDoc | undefined {
  if (o.hidden || o.long === undefined) return undefined;
  const m = /<[^>]+>|\[[^\]]+\]/.exec(o.flags);
  return {
    short: o.short,
    long: o.long,
    description: o.description,
    value: o.required || o.optional ? (m?.[0] ?? "<value>") : undefined,
    choices: o.argChoices,
  };
}

/** The documented tree of `cmd` (the program itself has path `[]`). */
export function commandTree(cmd: Command, path: readonly string[] = []): CommandDoc {
  const options = cmd.options.map(optionDoc).filter((o): o is OptionDoc => o !== undefined);
  return {
    path,
    description: cmd.description(),
    options: [...options, HELP],
    args: cmd.registeredArguments.map((a) =>
      a.required
        ? `<${a.name()}${a.variadic ? "..." : ""}>`
        : `[${a.name()}${a.variadic ? "..." : ""}]`
    ),
    subcommands: cmd.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => commandTree(c, [...path, c.name()])),
  };
}

/** Every command in the tree, depth first, the root first. */
export function allCommands(root: CommandDoc): CommandDoc[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}
