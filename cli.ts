/**
 * The `basil` program: the CLI, and (through `basil agent`) the launcher of
 * the sandboxed agent in main.ts. `deno task basil` and the `deno install`
 * launcher both run this file with the permission flags of deno.json's
 * `basil` task.
 * @module
 */

import { processIo } from "./lib/cli/io.ts";
import { runCli } from "./lib/cli/program.ts";
import { readInitCwd, taskCallerDir } from "./lib/cli/task_cwd.ts";

if (import.meta.main) {
  // `deno task basil` runs from the project root and exports the caller's
  // directory as INIT_CWD; act from there. INIT_CWD is honoured only in the
  // project root: npm and others export it too (see lib/cli/task_cwd.ts).
  const dir = taskCallerDir({
    initCwd: readInitCwd(),
    cwd: Deno.cwd(),
    projectRoot: new URL(".", import.meta.url).pathname,
  });
  if (dir !== undefined) {
    try {
      Deno.chdir(dir);
    } catch {
      // Never fall back to the project root: relative paths would resolve there.
      processIo.err(`Error: cannot change to the calling directory ${dir} (INIT_CWD)\n`);
      Deno.exit(1);
    }
  }
  Deno.exit(await runCli(Deno.args));
}
