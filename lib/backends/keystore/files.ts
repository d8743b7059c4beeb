/**
 * Owner-only modes for the keystore file and its SQLite companions.
 *
 * The database file is created 0600, or forced to 0600, before SQLite opens
 * it (SQLite gives the `-wal` and `-shm` files it creates the database file's
 * mode), and every file that exists is forced to 0600 again after open. The
 * directory is the operator's.
 * @module
 */

import { describeFsError, fileMode, formatMode } from "../../core/fs.ts";
import { InputError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";

/** The suffixes of SQLite's companion files in WAL mode. */
export const COMPANION_SUFFIXES: readonly string[] = ["-wal", "-shm"];

/** Creates `dbPath` empty with mode 0600 when it does not exist yet. */
export function ensureDbFile(dbPath: string): void {
  try {
    Deno.openSync(dbPath, { write: true, create: true, mode: 0o600 }).close();
  } catch (e) {
    throw new InputError(
      "keystore_open_failed",
      `keystore ${dbPath}: cannot create: ${describeFsError(e)}`,
    );
  }
}

/**
 * Forces the database file and any companion to 0600, logging a warning when
 * a mode was wider.
 */
export function restrictModes(dbPath: string, logger: Logger): void {
  for (const path of [dbPath, ...COMPANION_SUFFIXES.map((s) => dbPath + s)]) {
    let mode: number;
    try {
      mode = fileMode(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw modeError(path, e);
    }
    if (mode === 0o600) continue;
    try {
      Deno.chmodSync(path, 0o600);
    } catch (e) {
      throw modeError(path, e);
    }
    logger.log("warn", "keystore file mode tightened", {
      path,
      from: formatMode(mode),
      to: "0600",
    });
  }
}

function modeError(path: string, e: unknown): InputError {
  return new InputError(
    "keystore_open_failed",
    `keystore ${path}: cannot set mode 0600: ${describeFsError(e)}`,
  );
}
