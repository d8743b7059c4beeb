/**
 * File helpers for secret-bearing files.
 *
 * - {@linkcode writeFileAtomic} writes a temp file created 0600 in the target's
 *   directory, fsyncs it, renames it over the target, then fsyncs the
 *   directory: a reader sees the old or the new file, never a partial one,
 *   and never a wider mode; after a power loss the name holds the old or the
 *   new file (the new one for certain once the call returned, where the
 *   directory could be opened: see {@linkcode syncParentDir}).
 * - Files that are checked are checked on the held handle: a file is opened
 *   once, its `stat` is taken from that handle (fstat), and it is read,
 *   written or wiped through that same handle, so renaming or symlinking
 *   something else onto the path between the check and the use cannot
 *   redirect the operation.
 * - {@linkcode readCheckedFile} is that open–fstat–read sequence;
 *   {@linkcode readSecretFile} builds on it: with `requireOwnerOnly` it
 *   refuses anything but a regular 0600/0400 file owned by this process's
 *   uid (the owner check is skipped when `--allow-sys=uid` is not granted,
 *   as in the agent's sandbox). It returns a `SecretBytes`; every
 *   intermediate buffer is wiped.
 * - {@linkcode wipeFile} overwrites with zeros through the opened handle,
 *   fsyncs and unlinks, and only when the path still names that same
 *   regular file (never through a symlink).
 * @module
 */

import { InputError } from "./errors.ts";
import { SecretBytes } from "./secret.ts";

/** Permission bits (`mode & 0o7777`) of a path, following symlinks. */
export function fileMode(path: string): number {
  const st = Deno.statSync(path);
  return (st.mode ?? 0) & 0o7777;
}

/** Formats a mode as four octal digits, e.g. `0640`. */
export function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

/** Options for {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Final mode of the file; 0600 unless given. */
  mode?: number;
  /**
   * Never replace an existing `path`: the finished temp file is hard-linked
   * to `path` (which fails with `Deno.errors.AlreadyExists` if anything is
   * there, atomically, with no check-then-write window) instead of renamed.
   */
  createNew?: boolean;
}

/** Atomically replaces (or, with `createNew`, creates) `path` with `data`. */
export function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const mode = options.mode ?? 0o600;
  // A fixed temp name keeps sandbox permissions exact (`--allow-write=<path>.tmp`).
  const tmp = `${path}.tmp`;
  try {
    Deno.removeSync(tmp);
  } catch { /* no leftover from a crash */ }
  const file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    let off = 0;
    while (off < data.length) off += file.writeSync(data.subarray(off));
    file.syncSync();
  } catch (e) {
    file.close();
    try {
      Deno.removeSync(tmp);
    } catch { /* best effort */ }
    throw e;
  }
  file.close();
  try {
    if (mode !== 0o600) Deno.chmodSync(tmp, mode);
    if (options.createNew) {
      Deno.linkSync(tmp, path);
      Deno.removeSync(tmp);
    } else {
      Deno.renameSync(tmp, path);
    }
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* best effort */ }
    throw e;
  }
  syncParentDir(path);
}

/**
 * fsyncs the directory that holds `path`, so that a rename, link or create
 * in it survives a power loss. Returns false, having synced nothing, when
 * this process may not open the directory: the agent's sandbox grants
 * file paths, not their directories (docs/durability.md says what that
 * leaves open). A failed fsync throws: the entry is not known to be durable.
 */
export function syncParentDir(path: string): boolean {
  const cut = path.lastIndexOf("/");
  const dir = cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
  let d: Deno.FsFile;
  try {
    d = Deno.openSync(dir, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return false;
    }
    throw e;
  }
  try {
    d.syncSync();
  } finally {
    d.close();
  }
  return true;
}

/** How {@linkcode readSecretFile} treats the file. */
export interface ReadSecretOptions {
  /**
   * Refuse the file unless it is a regular file, its mode is exactly 0600
   * (or 0400) and, when the process may ask for its uid, it is owned by
   * that uid.
   */
  requireOwnerOnly?: boolean;
  /** Strip one trailing LF, then one trailing CR. */
  stripNewline?: boolean;
  /** A label for messages, e.g. `dek-file`. Never the content. */
  what: string;
  /**
   * Called with the permission bits of the OPENED file, before anything is
   * read; it may throw (e.g. an `InputError`) to refuse the file.
   */
  onMode?: (mode: number) => void;
}

/** This process's uid, or `undefined` when it may not be asked (no `--allow-sys=uid`). */
function processUid(): number | undefined {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state !== "granted") {
      return undefined;
    }
    return Deno.uid() ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens `path` once, hands the opened file's own `stat` to `check` (which
 * may throw to refuse it), then reads that same handle to its end. Throws
 * whatever `check` or the filesystem throws; every grown-out buffer is wiped.
 */
export function readCheckedFile(path: string, check: (st: Deno.FileInfo) => void): Uint8Array {
  using file = Deno.openSync(path, { read: true });
  const st = file.statSync();
  check(st);
  return readAll(file, st.size);
}

/** Reads a secret file. Errors name the path and the problem, never content. */
export function readSecretFile(path: string, options: ReadSecretOptions): SecretBytes {
  let data: Uint8Array;
  try {
    data = readCheckedFile(path, (st) => checkSecretFile(path, st, options));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(
      "secret_file_unreadable",
      `${options.what} ${path}: cannot read: ${describeFsError(e)}`,
    );
  }
  let end = data.length;
  if (options.stripNewline) {
    if (end > 0 && data[end - 1] === 0x0a) end--;
    if (end > 0 && data[end - 1] === 0x0d) end--;
  }
  if (end === data.length) return new SecretBytes(data);
  const out = data.slice(0, end);
  data.fill(0);
  return new SecretBytes(out);
}

function checkSecretFile(path: string, st: Deno.FileInfo, options: ReadSecretOptions): void {
  const mode = (st.mode ?? 0) & 0o7777;
  if (options.requireOwnerOnly) {
    if (!st.isFile) {
      throw new InputError(
        "secret_file_unreadable",
        `${options.what} ${path}: not a regular file`,
      );
    }
    if (mode !== 0o600 && mode !== 0o400) {
      throw new InputError(
        "secret_file_mode",
        `${options.what} ${path}: mode is ${formatMode(mode)}, must be 0600`,
      );
    }
    const uid = processUid();
    if (uid !== undefined && st.uid !== null && st.uid !== uid) {
      throw new InputError(
        "secret_file_owner",
        `${options.what} ${path}: owned by uid ${st.uid}, must be owned by uid ${uid}`,
      );
    }
  }
  options.onMode?.(mode);
}

/** Reads `file` to its end into an exactly sized buffer; every grown-out buffer is wiped. */
function readAll(file: Deno.FsFile, sizeHint: number): Uint8Array {
  // One spare byte: a file of the stated size is read (and EOF seen) without a regrow.
  let buf = new Uint8Array(Math.max(0, sizeHint) + 1);
  let len = 0;
  try {
    for (;;) {
      if (len === buf.length) {
        const next = new Uint8Array(buf.length * 2);
        next.set(buf);
        buf.fill(0);
        buf = next;
      }
      const n = file.readSync(buf.subarray(len));
      if (n === null) break;
      len += n;
    }
    return buf.slice(0, len);
  } finally {
    buf.fill(0);
  }
}

/**
 * Best-effort destruction of a secret file: overwrite with zeros, fsync,
 * unlink. Returns an error message on failure instead of throwing.
 *
 * The file is opened once; its size and identity come from that handle,
 * and the zeros go through it. Nothing is written unless, after the open,
 * the path itself (not following a symlink) still names that same regular
 * file, and the name is removed only if it still does after the fsync: a
 * symlink or a rename onto the path can neither redirect the zeros to
 * another file nor get another file unlinked in its place. (The last
 * lstat-then-unlink step can only race someone who may already unlink
 * names in that directory.)
 */
export function wipeFile(path: string): string | undefined {
  try {
    using f = Deno.openSync(path, { write: true });
    const held = f.statSync();
    if (!held.isFile) return "not a regular file";
    const sameFile = () => {
      const named = Deno.lstatSync(path);
      return named.isFile && named.dev === held.dev && named.ino === held.ino;
    };
    if (!sameFile()) return "the path is a symlink or no longer names the opened file; not wiped";
    const zeros = new Uint8Array(Math.min(held.size, 1 << 16));
    let left = held.size;
    while (left > 0) left -= f.writeSync(zeros.subarray(0, Math.min(left, zeros.length)));
    f.syncSync();
    if (!sameFile()) return "the path was replaced after the wipe; not removed";
    Deno.removeSync(path);
    return undefined;
  } catch (e) {
    return describeFsError(e);
  }
}

/** A short, path-free description of a filesystem error. */
export function describeFsError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotCapable) return "outside the agent's sandbox";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  if (e instanceof Deno.errors.AlreadyExists) return "already exists";
  if (e instanceof Error) return e.name;
  return "unknown error";
}

/** Reads a text input file (config, catalog, policy), or throws a clear `InputError`. */
export function readTextInput(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new InputError(
      `${what}_unreadable`,
      `${what} ${path}: cannot read: ${describeFsError(e)}`,
    );
  }
}
