/**
 * `basil demo`: a zero-config tour on the embedded keystore. It scaffolds a
 * workdir (default `$TMPDIR/basil-demo`), starts the agent, drives it with
 * the real CLI as the current user, then stops it. Rerunnable.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { demoPaths, prepareDir, scaffold } from "../demo/scaffold.ts";
import { runTour } from "../demo/tour.ts";
import type { RunCli } from "../demo/tour.ts";

/** Registers `demo`; `runCli` is the program's own entry point. */
export function registerDemoCommand(program: Command, ctx: CliContext, runCli: RunCli): void {
  program.command("demo")
    .description("Tour Basil on a throwaway workdir with the embedded keystore")
    .option("--dir <dir>", "workdir (default $TMPDIR/basil-demo)")
    .option("--paced", "pause between steps")
    .action(async (o) => {
      const dir = o.dir ?? `${(ctx.env("TMPDIR") ?? "/tmp").replace(/\/$/, "")}/basil-demo`;
      const p = demoPaths(dir.startsWith("/") ? dir : `${ctx.cwd}/${dir}`);
      const uid = Deno.uid();
      if (uid === null) throw new Error("Cannot determine the current uid");
      ctx.io.out(
        `Scaffolding ${p.dir} (catalog, policy, config, passphrase, DEK, sealed bundle)\n`,
      );
      prepareDir(p.dir);
      await scaffold(p, uid);
      await runTour(p, ctx, runCli, o.paced ?? false);
    });
}
