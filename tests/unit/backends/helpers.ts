/**
 * A throwaway keystore file for the backend tests: a temp dir, a random DEK,
 * backends opened on it and raw SQLite handles (for tampering), all closed
 * and removed afterwards.
 */

import { DatabaseSync } from "node:sqlite";
import { type KeystoreBackend, openKeystoreBackend } from "../../../lib/backends/keystore/mod.ts";
import type { Logger } from "../../../lib/core/log.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";

/** One temp keystore. */
export interface KeystoreFixture {
  readonly dir: string;
  readonly dbPath: string;
  /** The DEK `open` uses by default. */
  readonly dek: Uint8Array;
  /** Opens a backend on the file (closed when the test ends). */
  open(dek?: Uint8Array, logger?: Logger): KeystoreBackend;
  /** A raw SQLite connection to the file (closed when the test ends). */
  rawDb(): DatabaseSync;
}

/** Runs `fn` with a fresh keystore file under a temp dir named `prefix…`. */
export async function withKeystore(
  prefix: string,
  fn: (f: KeystoreFixture) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const dek = crypto.getRandomValues(new Uint8Array(32));
  const opened: KeystoreBackend[] = [];
  const dbs: DatabaseSync[] = [];
  const f: KeystoreFixture = {
    dir,
    dbPath: `${dir}/keystore.db`,
    dek,
    open(d = dek, logger) {
      const secret = SecretBytes.copyOf(d);
      try {
        const b = openKeystoreBackend({ name: "ks", dbPath: f.dbPath, dek: secret, logger });
        opened.push(b);
        return b;
      } finally {
        secret.wipe();
      }
    },
    rawDb() {
      const db = new DatabaseSync(f.dbPath);
      db.exec("PRAGMA busy_timeout = 5000");
      dbs.push(db);
      return db;
    },
  };
  try {
    await fn(f);
  } finally {
    for (const db of dbs) if (db.isOpen) db.close();
    for (const b of opened) b.close();
    await Deno.remove(dir, { recursive: true });
  }
}
