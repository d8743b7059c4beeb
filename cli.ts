/**
 * The `basil` program: the CLI, and (through `basil agent`) the launcher of
 * the sandboxed agent in main.ts. `deno task basil` and the `deno install`
 * launcher both run this file with the permission flags of deno.json's
 * `basil` task.
 * @module
 */

import { runCli } from "./lib/cli/program.ts";

if (import.meta.main) {
  // `deno task basil` runs from the project root; act from the caller's directory.
  const initCwd = Deno.env.get("INIT_CWD");
  if (initCwd) Deno.chdir(initCwd);
  Deno.exit(await runCli(Deno.args));
}
