/**
 * `basil demo`: a zero-config tour on the embedded keystore. It scaffolds a
 * workdir (default `$TMPDIR/basil-demo`) that it creates itself, starts the
 * agent, waits until it answers health and readiness on its socket, drives it
 * with the real CLI as the current user, then stops it. Rerunnable: a rerun
 * replaces only a workdir an earlier run created.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { demoPaths, prepareDir, scaffold } from "../demo/scaffold.ts";
import { runTour } from "../demo/tour.ts";
import { abs } from "../inputs.ts";
import type { RunCli } from "../demo/tour.ts";

/** Registers `demo`; `runCli` is the program's own entry point. */
export function registerDemoCommand(program: Command, ctx: CliContext, runCli: RunCli): void {
  program.command("demo")
    .description("Tour Basil on a throwaway workdir with the embedded keystore")
    .option(
      "--dir <dir>",
      "workdir the demo creates (default $TMPDIR/basil-demo); it must not exist yet, " +
        "unless an earlier demo created it",
    )
    .option("--paced", "pause between steps")
    .action(async (o) => {
      const given = o.dir ?? `${(ctx.env("TMPDIR") ?? "/tmp").replace(/\/+$/, "")}/basil-demo`;
      const dir = abs(given, ctx.cwd).replace(/\/+$/, "");
      const p = demoPaths(dir);
      const uid = Deno.uid();
      if (uid === null) throw new Error("Cannot determine the current uid");
      ctx.io.out(
        `Scaffolding ${p.dir} (catalog, policy, config, passphrase, DEK, sealed bundle)\n`,
      );
      prepareDir(p.dir, uid);
      await scaffold(p, uid);
      await runTour(p, ctx, runCli, o.paced ?? false);
    });
}
