/**
 * Audit sinks. The file sink opens its JSONL file once at start
 * (append, create, mode 0600; an existing file is tightened to 0600) and the
 * agent does not start if it cannot. Each record is one `write` of one line,
 * so records never interleave and none is queued or silently dropped; a
 * failed write is counted and logged, never thrown into the request path.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { describeFsError, fileMode, formatMode } from "../core/fs.ts";
import type { Logger } from "../core/log.ts";

/** Where audit records go. */
export interface AuditSink {
  /** Appends one record (a JSON-serializable object). Never throws. */
  write(record: object): void;
  /** Reopens the file (after logrotate moved it). Never throws. */
  reopen(): void;
  /** Records that could not be written since start. */
  readonly failures: number;
  close(): void;
}

const encoder = new TextEncoder();

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

/** Opens the JSONL audit file, or throws an `InputError` that stops the start. */
export function openAuditFile(path: string, logger: Logger): AuditSink {
  const open = (): Deno.FsFile => {
    const f = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    if (fileMode(path) !== 0o600) {
      const was = fileMode(path);
      Deno.chmodSync(path, 0o600);
      logger.log("warn", "audit log mode tightened", { path, was: formatMode(was) });
    }
    return f;
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
  let failures = 0;
  return {
    get failures() {
      return failures;
    },
    write(record) {
      const line = encoder.encode(JSON.stringify(record) + "\n");
      try {
        if (!file) throw new Error("closed");
        let off = 0;
        while (off < line.length) off += file.writeSync(line.subarray(off));
      } catch (e) {
        failures++;
        if (failures === 1 || failures % 1000 === 0) {
          logger.log("error", "audit write failed", { failures, error: describeFsError(e) });
        }
      }
    },
    reopen() {
      try {
        const next = open();
        file?.close();
        file = next;
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

/** A sink that sends records to the log as `audit` lines (no audit-log configured). */
export function logAuditSink(logger: Logger): AuditSink {
  return {
    failures: 0,
    write(record) {
      logger.log("info", "audit", { record: JSON.stringify(record) });
    },
    reopen() {},
    close() {},
  };
}
