// deno-lint-ignore-file no-console
/**
 * CLI start-up cost (issue 12 item 7): wall time of one client call as users
 * run it, against a running agent, next to a bare `deno run` of a one-line
 * script on the same machine. Each variant runs `--runs` times (default 15)
 * interleaved, after one warm-up each; the median and the ratio to the bare
 * run are printed as one JSON line per variant.
 *
 *   deno run --no-prompt -A bench/cli_start.ts [--runs N] [--launcher PATH]
 *
 * Variants: `bare` (deno run of `console.log(1)`), `cli get` / `cli health`
 * (`deno run <basil task flags> cli.ts …`: what the installed launcher of
 * tools/install.ts runs), `task health` (`deno task -q basil …`, which adds
 * deno task's own start-up), and `launcher health` when `--launcher` names
 * an installed `basil`.
 * @module
 */

import { BASIL_FLAGS, ROOT } from "../tests/helpers/cli.ts";
import { Fixture } from "../tests/helpers/fixture.ts";

const args = Deno.args;
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(opt("--runs") ?? 15);
const launcher = opt("--launcher");

function run(cmd: string[], cwd = ROOT): number {
  const t0 = performance.now();
  const o = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).outputSync();
  const ms = performance.now() - t0;
  if (o.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${o.code}: ${new TextDecoder().decode(o.stderr)}`);
  }
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const f = await Fixture.create();
const agent = await f.start();
try {
  const dir = await Deno.makeTempDir({ prefix: "basil-bench-cli-" });
  const one = `${dir}/one.ts`;
  Deno.writeTextFileSync(one, "console.log(1);\n");
  const cli = ["deno", "run", ...BASIL_FLAGS, "--config", `${ROOT}/deno.json`, `${ROOT}/cli.ts`];
  const sock = ["--socket", f.socket];
  // A value to read: the fixture's generated app.db_password.
  const variants: [string, string[]][] = [
    ["bare", ["deno", "run", "--no-prompt", one]],
    ["cli health", [...cli, ...sock, "health"]],
    ["cli get", [...cli, ...sock, "get", "--key-id", "app.db_password", "--format", "hex"]],
    ["task health", ["deno", "task", "-q", "basil", ...sock, "health"]],
    ...(launcher ? [["launcher health", [launcher, ...sock, "health"]] as [string, string[]]] : []),
  ];
  const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (const [, cmd] of variants) run(cmd);
  for (let i = 0; i < runs; i++) {
    for (const [n, cmd] of variants) times.get(n)!.push(run(cmd));
  }
  const bare = median(times.get("bare")!);
  for (const [n] of variants) {
    const med = median(times.get(n)!);
    console.log(JSON.stringify({
      variant: n,
      runs,
      median_ms: +med.toFixed(1),
      min_ms: +Math.min(...times.get(n)!).toFixed(1),
      ratio_to_bare: +(med / bare).toFixed(2),
    }));
  }
  Deno.removeSync(dir, { recursive: true });
} finally {
  await agent.stop();
  f.cleanup();
}
