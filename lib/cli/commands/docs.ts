/**
 * `basil completions <bash|zsh|fish>` and `basil man`: the completion
 * scripts and the man page, generated from the program's own command
 * definitions (lib/cli/docs).
 * @module
 */

import { Argument } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { VERSION } from "../../core/version.ts";
import type { CliContext } from "../context.ts";
import { completionScript, SHELLS } from "../docs/completions.ts";
import { manPage } from "../docs/man.ts";
import { commandTree } from "../docs/tree.ts";
import { CLI_ENV, type RegisterExtras } from "../program.ts";

/** Registers `completions` and `man`. */
export function registerDocCommands(
  program: Command,
  ctx: CliContext,
  extras: RegisterExtras,
): void {
  program.command("completions")
    .description("Print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS))
    .action(async (shell) => {
      const tree = commandTree((await extras.fullProgram()) as never);
      ctx.io.out(completionScript(shell, tree));
    });
  program.command("man")
    .description("Print the basil(1) man page (roff)")
    .action(async () => {
      const tree = commandTree((await extras.fullProgram()) as never);
      ctx.io.out(manPage(tree, VERSION, CLI_ENV));
    });
}
