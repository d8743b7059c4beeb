/**
 * The `basil demo` tour: start the agent on the scaffolded workdir, wait
 * until it answers health and readiness over its socket, then run
 * real CLI commands against it as the current user (each printed as the
 * command you would type), show a denial and why, tail the audit log, stop
 * the agent, and print commands to carry on.
 * @module
 */

import { utf8 } from "../../core/encoding.ts";
import { planAgentLaunch, spawnAgent } from "../../sandbox/launch.ts";
import type { CliContext } from "../context.ts";
import { loadConfigFromFlags, readCatalog } from "../inputs.ts";
import { CliError } from "../io.ts";
import type { Io } from "../io.ts";
import type { DemoPaths } from "./scaffold.ts";
import { socketProbe, waitForAgent } from "./wait.ts";

/** Runs the CLI in process (injected to avoid an import cycle with program.ts). */
export type RunCli = (
  argv: readonly string[],
  options: { io: Io; env: (n: string) => string | undefined; cwd: string },
) => Promise<number>;

interface Beat {
  readonly show: string;
  /** `{name}` is replaced by a value an earlier beat captured. */
  readonly argv: readonly string[];
  readonly expect: 0 | 1;
  readonly stdin?: string;
  /** Remember this beat's stdout under a name. */
  readonly capture?: string;
}

function explain(p: DemoPaths, op: string): string[] {
  return [
    "explain",
    "-c",
    p.config,
    "--subject",
    "current-user",
    "--op",
    op,
    "--key",
    "demo.signing_key",
  ];
}

/** A running demo agent. */
interface DemoAgent {
  readonly child: Deno.ChildProcess;
  readonly log: Promise<void>;
}

async function startAgent(p: DemoPaths, ctx: CliContext): Promise<DemoAgent> {
  const cfg = loadConfigFromFlags({ config: p.config }, { ...ctx, env: () => undefined });
  const { catalog } = readCatalog(cfg.catalog);
  const plan = planAgentLaunch(cfg, catalog, {
    libc: ctx.env("BASIL_LIBC"),
    nghttp2: ctx.env("BASIL_LIBNGHTTP2"),
    getEnv: ctx.env,
    child: true,
  });
  const child = spawnAgent(plan, { stdout: "piped", stderr: "piped" });
  const file = await Deno.open(p.agentLog, {
    write: true,
    create: true,
    append: true,
    mode: 0o600,
  });
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) await file.write(chunk);
  };
  const log = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => file.close());
  return { child, log };
}

/** How long the demo waits for its agent to answer health and readiness. */
const AGENT_START_TIMEOUT_MS = 30_000;

async function waitUntilServing(p: DemoPaths, agent: DemoAgent): Promise<void> {
  let exited = false;
  agent.child.status.then(() => (exited = true));
  const r = await waitForAgent(socketProbe(p.socket), {
    timeoutMs: AGENT_START_TIMEOUT_MS,
    intervalMs: 100,
    exited: () => exited,
  });
  if (r.ok) return;
  if (exited) await agent.log.catch(() => {});
  let tail = "";
  try {
    tail = Deno.readTextFileSync(p.agentLog).trim().split("\n").slice(-5).join("\n");
  } catch { /* no log */ }
  throw new CliError(`the demo agent did not start: ${r.why} (see ${p.agentLog}):\n${tail}`);
}

function indentIo(ctx: CliContext, stdin?: string): Io {
  const ind = (t: string) => t.replace(/^(?=.)/gm, "  ");
  return {
    out: (t) => ctx.io.out(ind(t)),
    outBytes: (b) => ctx.io.out(ind(new TextDecoder().decode(b))),
    err: (t) => ctx.io.out(ind(t)),
    readStdin: () => Promise.resolve(utf8(stdin ?? "")),
  };
}

/** Runs the whole tour; throws if any beat behaves unexpectedly. */
export async function runTour(
  p: DemoPaths,
  ctx: CliContext,
  runCli: RunCli,
  paced: boolean,
): Promise<void> {
  const say = (t: string) => ctx.io.out(t + "\n");
  say(`Starting the agent: basil agent -c ${p.config}`);
  const agent = await startAgent(p, ctx);
  let failed: string | undefined;
  try {
    await waitUntilServing(p, agent);
    say(`  healthy and ready on ${p.socket} (log: ${p.agentLog})\n`);
    const beats: Beat[] = [
      { show: "basil status", argv: ["status"], expect: 0 },
      { show: "basil list", argv: ["list"], expect: 0 },
      // Messages and plaintexts go through stdin, as the CLI advises: argv is
      // visible to every local user (ps, /proc).
      {
        show: "printf 'release v1.0.0' | basil sign --key-id demo.signing_key -",
        argv: ["sign", "--key-id", "demo.signing_key", "-"],
        stdin: "release v1.0.0",
        expect: 0,
        capture: "signature",
      },
      {
        show:
          "printf 'release v1.0.0' | basil verify --key-id demo.signing_key --signature <hex above> -",
        argv: [
          "verify",
          "--key-id",
          "demo.signing_key",
          "--signature",
          "{signature}",
          "-",
        ],
        stdin: "release v1.0.0",
        expect: 0,
      },
      {
        show:
          "basil get --key-id demo.signing_key        # the key is used, never handed out: denied",
        argv: ["get", "--key-id", "demo.signing_key"],
        expect: 1,
      },
      {
        show: `basil explain -c ${p.config} --subject current-user --op get --key demo.signing_key`,
        argv: explain(p, "get"),
        expect: 0,
      },
      {
        show:
          `basil explain -c ${p.config} --subject current-user --op sign --key demo.signing_key`,
        argv: explain(p, "sign"),
        expect: 0,
      },
      {
        show: "printf 'backup-2026-07-07.tar' | basil encrypt --key-id demo.aead_key -",
        argv: ["encrypt", "--key-id", "demo.aead_key", "-"],
        stdin: "backup-2026-07-07.tar",
        expect: 0,
      },
      {
        show: "basil mint-jwt --key-id demo.signing_key --sub deploy-bot --ttl-secs 300",
        argv: [
          "mint-jwt",
          "--key-id",
          "demo.signing_key",
          "--sub",
          "deploy-bot",
          "--ttl-secs",
          "300",
        ],
        expect: 0,
      },
      {
        show: "basil get --key-id demo.app.db_password --format raw   # a Tier 1 value",
        argv: ["get", "--key-id", "demo.app.db_password", "--format", "raw"],
        expect: 0,
      },
      {
        show: "printf 'tok-1234' | basil set --key-id demo.app.api_token --value-file -",
        argv: ["set", "--key-id", "demo.app.api_token", "--value-file", "-"],
        stdin: "tok-1234",
        expect: 0,
      },
      {
        show: "basil rotate --key-id demo.app.db_password",
        argv: ["rotate", "--key-id", "demo.app.db_password"],
        expect: 0,
      },
    ];
    const captured = new Map<string, string>();
    for (const b of beats) {
      say(`$ ${b.show}`);
      let out = "";
      const io = indentIo(ctx, b.stdin);
      const code = await runCli(
        [
          "--socket",
          p.socket,
          ...b.argv.map((a) => a.replace(/^\{(\w+)\}$/, (_, k) => captured.get(k) ?? "")),
        ],
        {
          io: { ...io, out: (t) => ((out += t), io.out(t)) },
          env: () => undefined,
          cwd: ctx.cwd,
        },
      );
      if (b.capture) captured.set(b.capture, out.trim());
      if (b.argv.includes("raw") && code === 0) ctx.io.out("\n");
      if (code !== b.expect) {
        failed = `\`${b.show}\` exited ${code}, expected ${b.expect}`;
        break;
      }
      say("");
      if (paced) await new Promise((r) => setTimeout(r, 1200));
    }
    if (!failed) {
      say(`$ tail -n 5 ${p.audit}        # one record per decision; values never appear`);
      const lines = Deno.readTextFileSync(p.audit).trim().split("\n").slice(-5);
      for (const l of lines) say(`  ${l}`);
      say("");
    }
  } finally {
    try {
      agent.child.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        agent.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await agent.child.status;
    clearTimeout(timer);
    await agent.log.catch(() => {});
  }
  if (failed) throw new CliError(`demo failed: ${failed}`);
  say("The demo agent has stopped. Try it yourself:");
  say(`  basil agent -c ${p.config} &`);
  say(`  export BASIL_SOCKET=${p.socket}`);
  say(`  basil list`);
  say(`  printf 'hello' | basil sign --key-id demo.signing_key -`);
  say(`  basil get --key-id demo.app.db_password --format raw`);
  say(`  basil explain -c ${p.config} --subject current-user --effective`);
  say(`  tail -f ${p.audit}`);
  say("(From a checkout without `deno task install`, use `deno task basil` for `basil`.)");
}
