/**
 * Runs the real `basil` CLI exactly as installed: `deno run` with the flags
 * of deno.json's `basil` task (read from there), optionally as another uid
 * through `setpriv`.
 */

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
const task: string = config.tasks.basil;
const m = /^deno run (.*) cli\.ts$/.exec(task);
if (!m) throw new Error("deno.json tasks.basil is not `deno run <flags> cli.ts`");
/** The production permission flags of the CLI. */
export const BASIL_FLAGS: readonly string[] = m[1]!.split(/\s+/);

/** A uid/gid to run as. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** Options for {@linkcode basil}. */
export interface BasilOptions {
  env?: Record<string, string>;
  stdin?: Uint8Array | string;
  as?: RunAs;
  cwd?: string;
  /** Called with all of stderr so far each time the CLI writes to it (to wait for a line). */
  onStderr?: (stderr: string) => void;
}

/** The outcome of a CLI run. */
export interface BasilResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/** The command line that runs the CLI with `args`. */
export function basilCommand(args: readonly string[], as?: RunAs): string[] {
  const deno = ["deno", "run", ...BASIL_FLAGS, "--config", `${ROOT}/deno.json`, `${ROOT}/cli.ts`];
  const base = as
    ? ["setpriv", `--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", ...deno]
    : deno;
  return [...base, ...args];
}

/** Runs the CLI to completion. */
export async function basil(args: readonly string[], o: BasilOptions = {}): Promise<BasilResult> {
  const [cmd, ...rest] = basilCommand(args, o.as);
  const env: Record<string, string> = { NO_COLOR: "1", ...(o.env ?? {}) };
  if (o.as) env.HOME = "/nonexistent";
  const child = new Deno.Command(cmd!, {
    args: rest,
    env,
    cwd: o.cwd ?? ROOT,
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof o.stdin === "string" ? new TextEncoder().encode(o.stdin) : o.stdin);
    await w.close();
  }
  const [stdout, stderr, status] = await Promise.all([
    readAll(child.stdout),
    readAll(child.stderr, o.onStderr),
    child.status,
  ]);
  const dec = new TextDecoder();
  return {
    code: status.code,
    stdout: dec.decode(stdout),
    stderr: dec.decode(stderr),
    stdoutBytes: stdout,
  };
}

/** Reads a stream to its end; `onText` hears the decoded text so far after each chunk. */
async function readAll(
  stream: ReadableStream<Uint8Array>,
  onText?: (text: string) => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const dec = new TextDecoder();
  let text = "";
  for await (const c of stream) {
    chunks.push(c);
    if (onText) {
      text += dec.decode(c, { stream: true });
      onText(text);
    }
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
