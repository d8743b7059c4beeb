/**
 * The echo service of bench/h2_echo.ts on the broker's own transport, run as
 * a separate process for the transport tests, and the grpc-go client of
 * tests/fixtures/go/echo_client built from Debian's packages (GOPATH mode).
 */

import { ROOT } from "./cli.ts";

/** A running echo server. */
export interface EchoServer {
  readonly socket: string;
  readonly child: Deno.ChildProcess;
  /** SIGTERM, then the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts the echo server on a fresh socket; resolves once it listens. */
export async function startEcho(): Promise<EchoServer> {
  const dir = await Deno.makeTempDir({ prefix: "basil-echo-" });
  Deno.chmodSync(dir, 0o755);
  const socket = `${dir}/echo.sock`;
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--config",
      `${ROOT}/deno.json`,
      "--allow-ffi",
      "--allow-read",
      `--allow-write=${dir}`,
      `--allow-net=unix:${socket}`,
      `${ROOT}/bench/h2_echo.ts`,
      socket,
    ],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("listening")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`echo server exited before listening: ${seen}`);
    seen += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    socket,
    child,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const st = await child.status;
      Deno.removeSync(dir, { recursive: true });
      return st;
    },
  };
}

let goClient: Promise<string> | undefined;

/** Builds the grpc-go echo client once per test process; returns the binary. */
export function goEchoClient(): Promise<string> {
  goClient ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "basil-go-" });
    Deno.mkdirSync(`${dir}/src`, { recursive: true });
    Deno.symlinkSync(`${ROOT}/tests/fixtures/go/echo_client`, `${dir}/src/echoclient`);
    const out = await new Deno.Command("go", {
      args: ["build", "-o", `${dir}/echo_client`, "echoclient"],
      env: {
        GO111MODULE: "off",
        GOPATH: `${dir}:/usr/share/gocode`,
        GOCACHE: `${dir}/cache`,
        GOFLAGS: "",
      },
    }).output();
    if (out.code !== 0) {
      throw new Error(`go build failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return `${dir}/echo_client`;
  })();
  return goClient;
}
