/**
 * Where CLI commands write. Commands never print directly, so tests can run
 * them in process and the library stays silent.
 * @module
 */

/** The CLI's output channels. */
export interface Io {
  /** Writes text to stdout as is. */
  out(text: string): void;
  /** Writes bytes to stdout as is (binary values). */
  outBytes(bytes: Uint8Array): void;
  /** Writes text to stderr as is. */
  err(text: string): void;
  /** Reads all of stdin. */
  readStdin(): Promise<Uint8Array>;
}

/**
 * Stdout was closed by its reader (`basil list | head -1`): not a failure of
 * the command, so the run ends quietly with its own exit code.
 */
export class StdoutClosed extends Error {
  constructor() {
    super("stdout closed");
    this.name = "StdoutClosed";
  }
}

function writeStdout(bytes: Uint8Array): void {
  try {
    writeAll(Deno.stdout, bytes);
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) throw new StdoutClosed();
    throw e;
  }
}

/** Io on the process's stdio. */
export const processIo: Io = {
  out(text) {
    writeStdout(new TextEncoder().encode(text));
  },
  outBytes(bytes) {
    writeStdout(bytes);
  },
  err(text) {
    writeAll(Deno.stderr, new TextEncoder().encode(text));
  },
  async readStdin() {
    const chunks: Uint8Array[] = [];
    for await (const c of Deno.stdin.readable) chunks.push(c);
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
      c.fill(0);
    }
    return out;
  },
};

/** Writes all bytes to a sync writer. */
export function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

/** A CLI failure: printed as `Error: <message>` with the given exit code. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
