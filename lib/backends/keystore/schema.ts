/**
 * The keystore's SQL: connection pragmas, tables, and the one-way migration
 * to the current schema (tracked in `PRAGMA user_version`).
 *
 * Tables (schema version 1):
 * - `meta(name, value)`: `dek_check` holds a known constant sealed under the
 *   DEK, so a wrong DEK is refused at open.
 * - `entries(kind, path, version, key_type, public, created_unix, sealed)`:
 *   append-only (old key versions may be pruned, never the latest), primary
 *   key `(kind, path, version)`. `sealed` is the only secret column;
 *   `key_type` and `public` are non-secret and bound into the row's AAD (see
 *   rows.ts).
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { InputError } from "../../core/errors.ts";
import { dekCheckOpens, sealDekCheck } from "./rows.ts";

/** The schema version this build writes and reads. */
export const SCHEMA_VERSION = 1;

/** How long a writer waits for another process's lock, in milliseconds. */
export const BUSY_TIMEOUT_MS = 5000;

const CREATE_V1 = `
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
) STRICT;
CREATE TABLE entries (
  kind         TEXT    NOT NULL CHECK (kind IN ('value', 'key')),
  path         TEXT    NOT NULL CHECK (length(path) > 0),
  version      INTEGER NOT NULL CHECK (version >= 1),
  key_type     TEXT,
  public       BLOB,
  created_unix INTEGER NOT NULL,
  sealed       BLOB    NOT NULL,
  PRIMARY KEY (kind, path, version)
) STRICT, WITHOUT ROWID;
`;

/** Sets the connection pragmas; throws when WAL mode cannot be enabled. */
export function applyPragmas(db: DatabaseSync): void {
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode;
  if (mode !== "wal") throw new Error(`journal_mode is ${String(mode)}, expected wal`);
  db.exec("PRAGMA synchronous = FULL");
}

/**
 * Creates the schema in an empty file, or checks an existing one: its version
 * must be this build's and its DEK check must open under `dek`. Startup
 * problems are `InputError`s naming `dbPath`, never the DEK.
 */
export function migrate(db: DatabaseSync, dbPath: string, dek: Uint8Array): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    const version = userVersion(db);
    if (version === 0) {
      if (hasTables(db)) {
        throw new InputError(
          "keystore_schema_unsupported",
          `keystore ${dbPath}: file holds tables but no keystore schema version`,
        );
      }
      db.exec(CREATE_V1);
      db.prepare("INSERT INTO meta (name, value) VALUES ('dek_check', ?)").run(sealDekCheck(dek));
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    } else if (version !== SCHEMA_VERSION) {
      throw new InputError(
        "keystore_schema_unsupported",
        `keystore ${dbPath}: schema version ${version} is not supported (expected ${SCHEMA_VERSION})`,
      );
    }
    checkDek(db, dbPath, dek);
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

function checkDek(db: DatabaseSync, dbPath: string, dek: Uint8Array): void {
  const blob = db.prepare("SELECT value FROM meta WHERE name = 'dek_check'").get()?.value;
  if (!(blob instanceof Uint8Array)) {
    throw new InputError("keystore_corrupt", `keystore ${dbPath}: the DEK check row is missing`);
  }
  if (!dekCheckOpens(dek, blob)) {
    throw new InputError(
      "keystore_dek_mismatch",
      `keystore ${dbPath}: the bundle's DEK does not open this keystore`,
    );
  }
}

function userVersion(db: DatabaseSync): number {
  const v = db.prepare("PRAGMA user_version").get()?.user_version;
  return typeof v === "number" ? v : Number(v ?? 0);
}

function hasTables(db: DatabaseSync): boolean {
  return db.prepare("SELECT 1 AS one FROM sqlite_schema LIMIT 1").get() !== undefined;
}
