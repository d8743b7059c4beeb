/** An in-memory CLI context for unit tests. */

import type { CliContext } from "../../../lib/cli/context.ts";
import type { Io } from "../../../lib/cli/io.ts";

/** A context whose output is captured; stdin returns `stdin`. */
export function testContext(
  o: { stdin?: Uint8Array; socket?: string; env?: Record<string, string> } = {},
): CliContext & { stdout: () => string; stderr: () => string } {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => void (out += t),
    outBytes: (b) => void (out += new TextDecoder().decode(b)),
    err: (t) => void (err += t),
    readStdin: () => Promise.resolve(o.stdin ?? new Uint8Array()),
  };
  const socket = o.socket ?? "/nonexistent/basil-unit.sock";
  return {
    io,
    env: (n) => o.env?.[n],
    cwd: "/",
    socket: () => socket,
    explicitSocket: () => socket,
    exitCode: 0,
    stdout: () => out,
    stderr: () => err,
  };
}
