/**
 * Shared state of one CLI run: output, environment lookups and the exit code
 * a command wants when it succeeds but must signal a negative answer
 * (`verify` false, `ready` not ready).
 * @module
 */

import type { Io } from "./io.ts";

/** Per-run CLI context. */
export interface CliContext {
  readonly io: Io;
  /** Reads an allow-listed environment variable. */
  readonly env: (name: string) => string | undefined;
  /** The process's working directory, for relative paths. */
  readonly cwd: string;
  /** The agent socket: `--socket`, else BASIL_SOCKET, else the default. */
  readonly socket: () => string;
  /** `--socket` or BASIL_SOCKET when given explicitly (agent overrides). */
  readonly explicitSocket: () => string | undefined;
  /** Exit code for a successful run; commands may set it to 1. */
  exitCode: number;
}
