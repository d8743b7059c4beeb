/**
 * Audit sinks. The file sink opens its JSONL file once at start
 * (append, create, mode 0600; an existing file is tightened to 0600) and the
 * agent does not start if it cannot. Without a file, records go to stderr,
 * one line each, whatever the log level or the `logging.stderr` switch says.
 *
 * Each record is written synchronously as one whole line: nothing is queued
 * or silently dropped. `write` never throws; it reports whether the line was
 * written, and the broker refuses an allowed operation whose record was not
 * (fail closed). A failure is counted and logged. After a partial write the
 * next record starts with a newline, so a torn line never swallows the next
 * record.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { describeFsError, formatMode } from "../core/fs.ts";
import type { Logger } from "../core/log.ts";

/** Where audit records go. */
export interface AuditSink {
  /**
   * Appends one record (a JSON-serializable object) as one line. Never
   * throws; returns false when the whole line could not be written.
   */
  write(record: object): boolean;
  /** Reopens the file (after logrotate moved it). Never throws. */
  reopen(): void;
  /** Records that could not be written since start. */
  readonly failures: number;
  close(): void;
}

/** A synchronous write of some bytes; returns how many were written (like `writeSync`). */
export type SyncWrite = (bytes: Uint8Array) => number;

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/**
 * Writes records as whole lines through a {@linkcode SyncWrite}, remembering
 * whether the output was left in the middle of a line.
 */
class LineWriter {
  #torn = false;
  #failures = 0;

  constructor(private readonly logger: Logger, private readonly what: string) {}

  get failures(): number {
    return this.#failures;
  }

  /** The output changed (reopened): it no longer ends in a torn line. */
  reset(): void {
    this.#torn = false;
  }

  /** Writes one line; false (counted and logged) when `out` is absent or fails. */
  write(out: SyncWrite | undefined, record: object): boolean {
    const line = encoder.encode(`${this.#torn ? "\n" : ""}${JSON.stringify(record)}\n`);
    let off = 0;
    try {
      if (!out) throw new Error("audit sink is closed");
      while (off < line.length) {
        const n = out(line.subarray(off));
        if (!(n > 0)) throw new Error("short write");
        off += n;
      }
      this.#torn = false;
      return true;
    } catch (e) {
      if (off > 0) this.#torn = line[off - 1] !== NEWLINE;
      this.#failures++;
      this.#report(e);
      return false;
    }
  }

  #report(e: unknown): void {
    const failures = this.#failures;
    if (failures !== 1 && failures % 1000 !== 0) return;
    try {
      this.logger.log("error", `${this.what} write failed`, {
        failures,
        error: describeFsError(e),
      });
    } catch { /* the log may share the failing stream; write() never throws */ }
  }
}

/**
 * Proves early that the audit file can be opened for append, leaving no file
 * behind when it did not exist: a later failure (say, a wrong passphrase)
 * must not have written anything, and an unusable audit path must be found
 * before the unlock consumes the passphrase file.
 */
export function checkAuditWritable(path: string): void {
  try {
    let existed = true;
    try {
      Deno.lstatSync(path);
    } catch {
      existed = false;
    }
    const f = existed
      ? Deno.openSync(path, { append: true })
      : Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
    f.close();
    if (!existed) Deno.removeSync(path);
  } catch (e) {
    throw new InputError(
      "audit_unopenable",
      `audit-log ${path}: cannot open for append: ${describeFsError(e)}`,
    );
  }
}

/** Permission bits of an opened file, from the handle itself. */
function heldMode(f: Deno.FsFile): number {
  return (f.statSync().mode ?? 0) & 0o7777;
}

/** Opens the JSONL audit file, or throws an `InputError` that stops the start. */
export function openAuditFile(path: string, logger: Logger): AuditSink {
  // The mode is read from the opened handle (fstat), not the path. Deno has
  // no fchmod, so a wider file is tightened by path and the handle is then
  // checked again: if the path no longer names the opened file, the chmod
  // missed it and the open fails rather than writing to a wider file.
  const open = (): Deno.FsFile => {
    const f = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    try {
      const was = heldMode(f);
      if (was !== 0o600) {
        Deno.chmodSync(path, 0o600);
        if (heldMode(f) !== 0o600) throw new Deno.errors.PermissionDenied("mode not tightened");
        logger.log("warn", "audit log mode tightened", { path, was: formatMode(was) });
      }
      return f;
    } catch (e) {
      f.close();
      throw e;
    }
  };
  let file: Deno.FsFile | undefined;
  try {
    file = open();
  } catch (e) {
    throw new InputError(
      "audit_unopenable",
      `audit-log ${path}: cannot open for append: ${describeFsError(e)}`,
    );
  }
  const lines = new LineWriter(logger, "audit");
  return {
    get failures() {
      return lines.failures;
    },
    write(record) {
      const f = file;
      return lines.write(f && ((b) => f.writeSync(b)), record);
    },
    reopen() {
      try {
        const next = open();
        file?.close();
        file = next;
        lines.reset();
      } catch (e) {
        logger.log("error", "audit reopen failed; keeping the old file", {
          error: describeFsError(e),
        });
      }
    },
    close() {
      file?.close();
      file = undefined;
    },
  };
}

/**
 * A sink that writes each record as its own JSON line through `out` (stderr
 * by default), synchronously and independent of the logger's level filter or
 * its stderr switch: used when no `audit-log` is configured. `logger` only
 * hears about failed writes; tests inject a failing or partial `out`.
 */
export function stderrAuditSink(
  logger: Logger,
  out: SyncWrite = (b) => Deno.stderr.writeSync(b),
): AuditSink {
  const lines = new LineWriter(logger, "audit (stderr)");
  return {
    get failures() {
      return lines.failures;
    },
    write(record) {
      return lines.write(out, record);
    },
    reopen() {},
    close() {},
  };
}
