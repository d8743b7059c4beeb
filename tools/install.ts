// deno-lint-ignore-file no-console
/**
 * `deno task install [--root DIR]`: installs a `basil` launcher with the exact
 * permission flags of deno.json's `basil` task baked in (they are defined
 * there once and read from there). The launcher runs `deno` from PATH and
 * this checkout's cli.ts, so the checkout must stay in place.
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const config = JSON.parse(Deno.readTextFileSync(`${root}deno.json`));
const task: string = config.tasks.basil;
const m = /^deno run (.*) cli\.ts$/.exec(task);
if (!m) {
  console.error("deno.json: tasks.basil is not `deno run <flags> cli.ts`");
  Deno.exit(1);
}
const flags = m[1]!.split(/\s+/);
const args = Deno.args;
const i = args.indexOf("--root");
const installRoot = i >= 0 ? args[i + 1] : undefined;
const cmd = [
  "install",
  "--global",
  "--force",
  "--name",
  "basil",
  ...(installRoot ? ["--root", installRoot] : []),
  "--config",
  `${root}deno.json`,
  ...flags,
  `${root}cli.ts`,
];
const st = await new Deno.Command("deno", { args: cmd, stdout: "inherit", stderr: "inherit" })
  .spawn().status;
Deno.exit(st.code);
