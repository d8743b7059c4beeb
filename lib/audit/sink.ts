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
 *
 * The file sink hash-chains its lines (lib/audit/chain.ts) and makes them
 * durable per its {@linkcode AuditFsync} policy: `flush` resolves once every
 * line written so far is on disk as the policy promises.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { describeFsError, formatMode } from "../core/fs.ts";
import type { Logger } from "../core/log.ts";
import { chainedLine, chainStartRecord, lineHash, readTail } from "./chain.ts";
import type { ChainHead, ChainStartReason } from "./chain.ts";
import { GroupSync } from "./durability.ts";
import type { AuditFsync } from "./durability.ts";

export type { AuditFsync } from "./durability.ts";

/** Where audit records go. */
export interface AuditSink {
  /**
   * Appends one record (a JSON-serializable object) as one line. Never
   * throws; returns false when the whole line could not be written.
   */
  write(record: object): boolean;
  /**
   * Resolves when every line written so far is as durable as the sink's
   * policy promises (`audit-fsync`); false when that failed (counted and
   * logged). Never rejects. Absent: lines are durable once written.
   */
  flush?(): Promise<boolean>;
  /** Reopens the file (after logrotate moved it). Never throws. */
  reopen(): void;
  /** Records that could not be written (or synced) since start. */
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

  /** Whether the output ends in a torn line. */
  get torn(): boolean {
    return this.#torn;
  }

  /** The output changed (reopened): whether it ends in a torn line. */
  reset(torn = false): void {
    this.#torn = torn;
  }

  /**
   * Writes one line (`text` without its newline); false (counted and
   * logged) when `out` is absent or fails.
   */
  write(out: SyncWrite | undefined, text: string): boolean {
    const line = encoder.encode(`${this.#torn ? "\n" : ""}${text}\n`);
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
      this.failed(e);
      return false;
    }
  }

  /** Counts and (at a bounded rate) logs one failure. */
  failed(e: unknown): void {
    this.#failures++;
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
      ? Deno.openSync(path, { read: true, append: true })
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

/** Options of {@linkcode openAuditFile}. */
export interface AuditFileOptions {
  /** When a written line is fsynced (default `always`). */
  readonly fsync?: AuditFsync;
  /** Clock for the chain start records. */
  readonly now?: () => Date;
}

/**
 * Opens the JSONL audit file, continues its hash chain with a start record,
 * or throws an `InputError` that stops the start.
 */
export function openAuditFile(
  path: string,
  logger: Logger,
  options: AuditFileOptions = {},
): AuditSink {
  const now = options.now ?? (() => new Date());
  // The mode is read from the opened handle (fstat), not the path. Deno has
  // no fchmod, so a wider file is tightened by path and the handle is then
  // checked again: if the path no longer names the opened file, the chmod
  // missed it and the open fails rather than writing to a wider file.
  const open = (): Deno.FsFile => {
    const f = Deno.openSync(path, { read: true, append: true, create: true, mode: 0o600 });
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
  const lines = new LineWriter(logger, "audit");
  let file: Deno.FsFile | undefined;
  let head: ChainHead | undefined;
  const sync = new GroupSync(
    options.fsync ?? "always",
    () => file ? file.syncData() : Promise.reject(new Error("audit sink is closed")),
    (e) => lines.failed(e),
  );

  /** Writes `record` chained to `head`; advances the head only when the whole line was written. */
  const append = (f: Deno.FsFile | undefined, record: object): boolean => {
    const seq = head === undefined ? 0 : head.seq + 1;
    const text = chainedLine(record, seq, head?.hash ?? null);
    const ok = lines.write(f && ((b) => f.writeSync(b)), text);
    if (ok) {
      head = { seq, hash: lineHash(encoder.encode(text)) };
      sync.wrote();
    }
    return ok;
  };

  /** Opens the file and writes its start record; throws when either fails. */
  const begin = (reason: ChainStartReason): Deno.FsFile => {
    const f = open();
    try {
      const tail = readTail(f);
      const was = head;
      const wasTorn = lines.torn;
      // A non-empty file continues from its own last line; an empty one (a
      // rotated file) from the last line the agent wrote before.
      if (tail.head !== undefined) head = tail.head;
      lines.reset(tail.torn);
      if (!append(f, chainStartRecord(reason, now()))) {
        head = was;
        lines.reset(wasTorn);
        throw new Error("cannot write the chain start record");
      }
      return f;
    } catch (e) {
      f.close();
      throw e;
    }
  };

  try {
    file = begin("start");
  } catch (e) {
    throw new InputError(
      "audit_unopenable",
      `audit-log ${path}: cannot open for append: ${describeFsError(e)}`,
    );
  }
  return {
    get failures() {
      return lines.failures;
    },
    write(record) {
      return append(file, record);
    },
    flush() {
      return sync.flush();
    },
    reopen() {
      const old = file;
      try {
        sync.finalSync(old);
        file = begin("reopen");
        old?.close();
      } catch (e) {
        file = old;
        logger.log("error", "audit reopen failed; keeping the old file", {
          error: describeFsError(e),
        });
      }
    },
    close() {
      sync.finalSync(file);
      sync.stop();
      file?.close();
      file = undefined;
    },
  };
}

/**
 * A sink that writes each record as its own JSON line through `out` (stderr
 * by default), synchronously and independent of the logger's level filter or
 * its stderr switch: used when no `audit-log` is configured. Its lines are
 * not hash-chained (there is no file to verify). `logger` only hears about
 * failed writes; tests inject a failing or partial `out`.
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
      return lines.write(out, JSON.stringify(record));
    },
    reopen() {},
    close() {},
  };
}
