/**
 * The keystore's entry store: versioned, sealed rows in one SQLite file, for
 * kv values (`kind = value`) and crypto key versions (`kind = key`).
 *
 * Invariants:
 * - No secret is written in plaintext: `sealed` is AES-256-GCM under the DEK
 *   with an AAD binding kind, path, version, key type and public key.
 * - A row is opened against its own columns; a row that fails to open is an
 *   INTERNAL error whose detail names the path and version, never content.
 * - The store owns a private copy of the DEK and wipes it on close.
 * - Versions start at 1 and only grow; nothing is updated. The only delete
 *   is {@linkcode KeystoreStore.prune} (key retention), which never removes
 *   the latest version of a path.
 * - {@linkcode KeystoreStore.insertNew} writes every given entry as version 1
 *   in one transaction, or none of them.
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { BasilError, InputError } from "../../core/errors.ts";
import { type Logger, nullLogger } from "../../core/log.ts";
import { SecretBytes } from "../../core/secret.ts";
import { ensureDbFile, restrictModes } from "./files.ts";
import { type EntryKind, openRow, type RowBinding, sealRow } from "./rows.ts";
import { applyPragmas, migrate } from "./schema.ts";

/** DEK length in bytes. */
export const KEYSTORE_DEK_BYTES = 32;

/** Options for {@linkcode KeystoreStore.open}. */
export interface KeystoreStoreOptions {
  /** The SQLite file (catalog backend `addr`). */
  dbPath: string;
  /** The bundle's 32-byte DEK; copied, so the caller may wipe it. */
  dek: SecretBytes;
  logger?: Logger;
}

/** Non-secret columns stored next to a key version. */
export interface EntryAttributes {
  /** The catalog key type of a `key` entry. */
  keyType?: string;
  /** A public key, stored in plaintext (bound into the AAD). */
  publicKey?: Uint8Array;
}

/** One new entry for {@linkcode KeystoreStore.insertNew}. */
export interface NewEntry {
  readonly path: string;
  /** The secret to seal; not kept or wiped by the store. */
  readonly secret: Uint8Array;
  readonly attrs?: EntryAttributes;
}

/** The stored version range of a path. */
export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

/** One opened entry version. The caller wipes `secret`. */
export interface OpenedEntry {
  readonly version: number;
  readonly secret: SecretBytes;
  readonly keyType: string | undefined;
  readonly publicKey: Uint8Array | undefined;
  readonly createdUnix: number;
}

/** The public part of a key version, authenticated when its row was opened. */
export interface PublicEntry {
  readonly version: number;
  readonly keyType: string | undefined;
  readonly publicKey: Uint8Array | undefined;
}

interface Statements {
  readonly latest: StatementSync;
  readonly exact: StatementSync;
  readonly maxVersion: StatementSync;
  readonly any: StatementSync;
  readonly insert: StatementSync;
  readonly range: StatementSync;
  readonly latestMeta: StatementSync;
  readonly prune: StatementSync;
}

const COLUMNS = "kind, path, version, key_type, public, created_unix, sealed";

/** A live keystore file. Synchronous; one connection per instance. */
export class KeystoreStore {
  readonly dbPath: string;
  #db: DatabaseSync;
  #dek: SecretBytes;
  /** Public parts by kind/path/version (versions never change; prune evicts). */
  readonly #publics = new Map<string, PublicEntry>();
  #stmts: Statements;
  #closed = false;

  private constructor(dbPath: string, db: DatabaseSync, dek: SecretBytes) {
    this.dbPath = dbPath;
    this.#db = db;
    this.#dek = dek;
    this.#stmts = {
      latest: db.prepare(
        `SELECT ${COLUMNS} FROM entries WHERE kind = ? AND path = ? ORDER BY version DESC LIMIT 1`,
      ),
      exact: db.prepare(
        `SELECT ${COLUMNS} FROM entries WHERE kind = ? AND path = ? AND version = ?`,
      ),
      maxVersion: db.prepare("SELECT max(version) AS v FROM entries WHERE kind = ? AND path = ?"),
      any: db.prepare("SELECT 1 AS one FROM entries WHERE kind = ? AND path = ? LIMIT 1"),
      insert: db.prepare(`INSERT INTO entries (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      range: db.prepare(
        "SELECT min(version) AS lo, max(version) AS hi FROM entries WHERE kind = ? AND path = ?",
      ),
      latestMeta: db.prepare(
        "SELECT version, key_type, " +
          "(SELECT min(version) FROM entries WHERE kind = ? AND path = ?) AS lo " +
          "FROM entries WHERE kind = ? AND path = ? ORDER BY version DESC LIMIT 1",
      ),
      prune: db.prepare("DELETE FROM entries WHERE kind = ? AND path = ? AND version < ?"),
    };
  }

  /**
   * Opens (creating when absent) the keystore at `dbPath`. Throws an
   * `InputError` for a bad DEK length (`keystore_dek_invalid`), a file that
   * cannot be opened (`keystore_open_failed`), an unknown schema
   * (`keystore_schema_unsupported`) or a DEK that does not open it
   * (`keystore_dek_mismatch`).
   */
  static open(options: KeystoreStoreOptions): KeystoreStore {
    const { dbPath } = options;
    const logger = options.logger ?? nullLogger;
    if (options.dek.length !== KEYSTORE_DEK_BYTES) {
      throw new InputError(
        "keystore_dek_invalid",
        `keystore ${dbPath}: the DEK must be ${KEYSTORE_DEK_BYTES} bytes`,
      );
    }
    ensureDbFile(dbPath);
    // Before SQLite opens it: the companions it creates copy the file's mode.
    restrictModes(dbPath, logger);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(dbPath);
    } catch (e) {
      throw new InputError(
        "keystore_open_failed",
        `keystore ${dbPath}: cannot open: ${sqlReason(e)}`,
      );
    }
    const dek = SecretBytes.copyOf(options.dek.expose());
    try {
      try {
        applyPragmas(db);
        migrate(db, dbPath, dek.expose());
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(
          "keystore_open_failed",
          `keystore ${dbPath}: cannot initialize: ${sqlReason(e)}`,
        );
      }
      restrictModes(dbPath, logger);
      return new KeystoreStore(dbPath, db, dek);
    } catch (e) {
      dek.wipe();
      db.close();
      throw e;
    }
  }

  /** Whether {@linkcode KeystoreStore.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Appends a new version of `path` sealing `secret`; returns its number.
   * Does not keep or wipe `secret`.
   */
  append(kind: EntryKind, path: string, secret: Uint8Array, attrs: EntryAttributes = {}): number {
    const { stmts, dek } = this.#live();
    checkPath(path);
    return this.#transaction(() => {
      const max = stmts.maxVersion.get(kind, path)?.v;
      const version = (typeof max === "number" ? max : 0) + 1;
      insertRow(stmts, dek, {
        kind,
        path,
        version,
        keyType: attrs.keyType,
        publicKey: attrs.publicKey,
      }, secret);
      return version;
    });
  }

  /**
   * Writes every entry as version 1 of a new path, in one transaction: when
   * any path already holds a version of `kind` (or appears twice), nothing
   * is written and it throws INVALID_REQUEST "key already exists" (the
   * detail names the path). Does not keep or wipe the secrets.
   */
  insertNew(kind: EntryKind, entries: readonly NewEntry[]): void {
    const { stmts, dek } = this.#live();
    for (const e of entries) checkPath(e.path);
    this.#transaction(() => {
      const seen = new Set<string>();
      for (const e of entries) {
        if (seen.has(e.path) || stmts.any.get(kind, e.path) !== undefined) {
          throw new BasilError("INVALID_REQUEST", "key already exists", {
            detail: `keystore ${kind} ${e.path} already exists`,
          });
        }
        seen.add(e.path);
      }
      for (const e of entries) {
        insertRow(stmts, dek, {
          kind,
          path: e.path,
          version: 1,
          keyType: e.attrs?.keyType,
          publicKey: e.attrs?.publicKey,
        }, e.secret);
      }
    });
  }

  /**
   * The latest version, its stored key type and the oldest stored version,
   * in one query and WITHOUT opening the row: for routing only. Every use of
   * key material opens (and so authenticates) the row, whose AAD binds the
   * key type.
   */
  peekLatest(
    kind: EntryKind,
    path: string,
  ): { version: number; keyType: string | null; minVersion: number } | undefined {
    const { stmts } = this.#live();
    const row = sql(() => stmts.latestMeta.get(kind, path, kind, path));
    if (typeof row?.version !== "number" || typeof row.lo !== "number") return undefined;
    return {
      version: row.version,
      keyType: typeof row.key_type === "string" ? row.key_type : null,
      minVersion: row.lo,
    };
  }

  /** The oldest and newest stored versions of `path`, or undefined when it holds none. */
  versionRange(kind: EntryKind, path: string): VersionRange | undefined {
    const { stmts } = this.#live();
    const row = sql(() => stmts.range.get(kind, path));
    const lo = row?.lo;
    const hi = row?.hi;
    return typeof lo === "number" && typeof hi === "number" ? { min: lo, max: hi } : undefined;
  }

  /**
   * Deletes the versions of `path` below `minVersion`, never the latest;
   * returns how many rows were deleted.
   */
  prune(kind: EntryKind, path: string, minVersion: number): number {
    const { stmts } = this.#live();
    if (!Number.isSafeInteger(minVersion)) {
      throw new BasilError("INTERNAL", undefined, {
        detail: "keystore prune: bad minimum version",
      });
    }
    for (const slot of this.#publics.keys()) {
      if (slot.startsWith(`${kind}\u0000${path}\u0000`)) this.#publics.delete(slot);
    }
    return this.#transaction(() => {
      const max = stmts.maxVersion.get(kind, path)?.v;
      if (typeof max !== "number") return 0;
      const changes = stmts.prune.run(kind, path, Math.min(minVersion, max)).changes;
      return Number(changes);
    });
  }

  /** Runs `fn` inside BEGIN IMMEDIATE … COMMIT, rolling back on any throw. */
  #transaction<T>(fn: () => T): T {
    const { db } = this.#live();
    return sql(() => {
      db.exec("BEGIN IMMEDIATE");
      try {
        const out = fn();
        db.exec("COMMIT");
        return out;
      } catch (e) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  /**
   * The public part (key type, public key) of one version. The row is opened
   * and authenticated once, its secret wiped at once, and the result cached:
   * verifying and publishing keys need not decrypt private keys every time.
   * The returned bytes are shared: callers copy before handing them out.
   */
  readPublic(kind: EntryKind, path: string, version: number): PublicEntry | undefined {
    const slot = `${kind}\u0000${path}\u0000${version}`;
    const hit = this.#publics.get(slot);
    if (hit !== undefined) return hit;
    const e = this.read(kind, path, version);
    if (e === undefined) return undefined;
    e.secret.wipe();
    const pub = { version: e.version, keyType: e.keyType, publicKey: e.publicKey };
    this.#publics.set(slot, pub);
    return pub;
  }

  /** Opens `version` of `path` (latest when undefined); undefined when absent. */
  read(kind: EntryKind, path: string, version?: number): OpenedEntry | undefined {
    const { stmts, dek } = this.#live();
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) return undefined;
    const raw = sql(() =>
      version === undefined ? stmts.latest.get(kind, path) : stmts.exact.get(kind, path, version)
    );
    if (raw === undefined) return undefined;
    const row = decodeRow(raw, kind);
    if (row === undefined) throw internal(`keystore row is malformed: ${path}`);
    let secret: Uint8Array;
    try {
      secret = openRow(dek, row.binding, row.sealed);
    } catch {
      throw internal(
        `keystore row failed authentication: ${row.binding.path} v${row.binding.version}`,
      );
    }
    return {
      version: row.binding.version,
      secret: new SecretBytes(secret),
      keyType: row.binding.keyType,
      publicKey: row.binding.publicKey,
      createdUnix: row.createdUnix,
    };
  }

  /** The latest version of `path`, or undefined when it holds nothing. */
  latestVersion(kind: EntryKind, path: string): number | undefined {
    const { stmts } = this.#live();
    const v = sql(() => stmts.maxVersion.get(kind, path)?.v);
    return typeof v === "number" ? v : undefined;
  }

  /** Whether `path` has at least one version of `kind` (no authentication). */
  has(kind: EntryKind, path: string): boolean {
    const { stmts } = this.#live();
    return sql(() => stmts.any.get(kind, path) !== undefined);
  }

  /** Wipes the DEK copy and closes the connection. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dek.wipe();
    try {
      this.#db.close();
    } catch { /* already closed */ }
  }

  #live(): { db: DatabaseSync; stmts: Statements; dek: Uint8Array } {
    if (this.#closed) {
      throw new BasilError("BACKEND_UNAVAILABLE", undefined, { detail: "keystore is closed" });
    }
    return { db: this.#db, stmts: this.#stmts, dek: this.#dek.expose() };
  }
}

interface DecodedRow {
  readonly binding: RowBinding;
  readonly sealed: Uint8Array;
  readonly createdUnix: number;
}

function decodeRow(raw: Record<string, unknown>, kind: EntryKind): DecodedRow | undefined {
  const { path, version, key_type, public: pub, created_unix, sealed } = raw;
  if (raw.kind !== kind || typeof path !== "string" || typeof version !== "number") {
    return undefined;
  }
  if (key_type !== null && typeof key_type !== "string") return undefined;
  if (pub !== null && !(pub instanceof Uint8Array)) return undefined;
  if (typeof created_unix !== "number" || !(sealed instanceof Uint8Array)) return undefined;
  return {
    binding: {
      kind,
      path,
      version,
      keyType: key_type ?? undefined,
      publicKey: pub ?? undefined,
    },
    sealed,
    createdUnix: created_unix,
  };
}

function checkPath(path: string): void {
  if (path.length === 0) {
    throw new BasilError("BACKEND_ERROR", undefined, { detail: "keystore path is empty" });
  }
}

/** Seals and inserts one row (inside the caller's transaction). */
function insertRow(stmts: Statements, dek: Uint8Array, row: RowBinding, secret: Uint8Array): void {
  const sealed = sealRow(dek, row, secret);
  stmts.insert.run(
    row.kind,
    row.path,
    row.version,
    row.keyType ?? null,
    row.publicKey ?? null,
    Math.floor(Date.now() / 1000),
    sealed,
  );
}

function internal(detail: string): BasilError {
  return new BasilError("INTERNAL", undefined, { detail });
}

/** SQLite primary result codes that mean "try again later", not "refused". */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
]);

/**
 * Runs a SQLite call, turning driver errors into BACKEND_UNAVAILABLE (busy,
 * locked, I/O) or BACKEND_ERROR (anything else).
 */
function sql<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BasilError) throw e;
    const errcode = (e as { errcode?: unknown } | null)?.errcode;
    const transient = typeof errcode === "number" && TRANSIENT_CODES.has(errcode & 0xff);
    throw new BasilError(transient ? "BACKEND_UNAVAILABLE" : "BACKEND_ERROR", undefined, {
      detail: `keystore sqlite error: ${sqlReason(e)}`,
      cause: e,
    });
  }
}

/** The driver's message: SQLite messages name columns, never bound values. */
function sqlReason(e: unknown): string {
  return e instanceof Error ? e.message : "unknown error";
}
