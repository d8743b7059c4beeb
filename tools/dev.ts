// deno-lint-ignore-file no-console
/**
 * `deno task dev`: a development fixture. It scaffolds a workdir in .dev/
 * once (the demo's catalog, policy, config and sealed bundle), then runs the
 * agent in this process; `--watch` restarts it whenever lib/ changes. Dev
 * only: it runs under -A, unlike `basil agent`, which sandboxes the agent.
 */

import { findLibrary, LIBC_CANDIDATES } from "../ffi/_dlopen.ts";
import { demoPaths, scaffold } from "../lib/cli/demo/scaffold.ts";
import { startAgent } from "../lib/daemon.ts";

const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const p = demoPaths(`${root}/.dev`);
try {
  Deno.statSync(p.bundle);
} catch {
  Deno.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  await scaffold(p, Deno.uid()!);
  console.log(`scaffolded ${p.dir}`);
}
const libc = findLibrary(LIBC_CANDIDATES);
if (!libc) throw new Error("libc not found");
const agent = await startAgent({
  configFile: p.config,
  overrides: {},
  libc,
  cwd: root,
});
console.log(`
dev agent on ${p.socket} (restarts on changes under lib/)
  export BASIL_SOCKET=${p.socket}
  tools/deno task basil list
  tools/deno task basil get --key-id demo.app.db_password --format raw
  tail -f ${p.audit}
`);
await agent.done;
