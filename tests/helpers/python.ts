/**
 * The independent Python gRPC client (Debian python3-grpcio): stubs are
 * generated from this repository's protos into a temp dir, then
 * tests/fixtures/py/broker_client.py runs against the agent socket,
 * optionally as another uid.
 */

import { ROOT } from "./cli.ts";
import type { RunAs } from "./cli.ts";

export const PYTHON = "/usr/bin/python3";

let genDir: string | undefined;

/** Generates Python stubs for the broker protos once per test process. */
export async function pythonStubs(): Promise<string> {
  if (genDir) return genDir;
  const dir = await Deno.makeTempDir({ prefix: "basil-pygen-" });
  Deno.chmodSync(dir, 0o755);
  // Debian's protoc 3.21 (protobuf-compiler) matches python3-protobuf 3.21; the
  // older protoc inside python3-grpc-tools predates proto3 `optional`. Method
  // stubs are not generated: the client calls methods by path.
  const out = await new Deno.Command("protoc", {
    args: [
      `-I${ROOT}/proto`,
      "-I/usr/include",
      `--python_out=${dir}`,
      "basil/broker/v1/broker.proto",
      "google/rpc/status.proto",
      "spiffe/workload.proto",
    ],
  }).output();
  if (out.code !== 0) throw new Error(`protoc failed: ${new TextDecoder().decode(out.stderr)}`);
  // google/ stays a namespace package so it merges with the system google.protobuf.
  for (const d of ["basil", "basil/broker", "basil/broker/v1", "spiffe"]) {
    Deno.writeTextFileSync(`${dir}/${d}/__init__.py`, "");
  }
  await new Deno.Command("chmod", { args: ["-R", "a+rX", dir] }).output();
  genDir = dir;
  return dir;
}

/** The JSON a python client run prints. */
export interface PyResult {
  code: string;
  details: string;
  reason: string | null;
  op: string | null;
  value_len: number | null;
  [k: string]: unknown;
}

/** Runs one call with the Python client. */
export async function pyCall(
  socket: string,
  method: string,
  o: { key?: string; meta?: Record<string, string>; as?: RunAs } = {},
): Promise<PyResult> {
  const args = [method];
  if (o.key !== undefined) args.push("--key", o.key);
  for (const [k, v] of Object.entries(o.meta ?? {})) args.push("--meta", `${k}=${v}`);
  return await runPyClient("broker_client.py", socket, args, o.as, "python client") as PyResult;
}

/**
 * Runs `tests/fixtures/py/<script> <stubs> <socket> <args…>` (as `as`, when
 * given) and parses the one JSON document it prints.
 */
async function runPyClient(
  script: string,
  socket: string,
  args: readonly string[],
  as: RunAs | undefined,
  what: string,
): Promise<Record<string, unknown>> {
  const gen = await pythonStubs();
  const all = [`${ROOT}/tests/fixtures/py/${script}`, gen, socket, ...args];
  const cmd = as
    ? ["setpriv", `--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", PYTHON, ...all]
    : [PYTHON, ...all];
  const out = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), env: { HOME: "/nonexistent" } })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0 || text === "") {
    throw new Error(`${what} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text);
}

/** Runs the Python Workload API client (tests/fixtures/py/workload_client.py). */
export async function pyWorkload(
  socket: string,
  args: readonly string[],
  o: { as?: RunAs } = {},
): Promise<Record<string, unknown>> {
  return await runPyClient("workload_client.py", socket, args, o.as, "workload client");
}
