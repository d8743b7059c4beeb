/**
 * The listening unix socket's filesystem side.
 *
 * - A stale socket file (nobody accepts) is replaced; a live one is refused;
 *   a path that is not a socket is never touched.
 * - The socket is bound under umask 0177, so it is 0600 from the first
 *   instant, then chmod'ed to `socket-mode` and chown'ed to `socket-group`.
 *   The configured mode is never looser at any moment than it ends up.
 * @module
 */

import net from "node:net";
import { InputError } from "../core/errors.ts";
import { describeFsError, formatMode } from "../core/fs.ts";

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const timer = setTimeout(() => done(false), 2000);
    function done(live: boolean): void {
      clearTimeout(timer);
      c.removeAllListeners();
      c.on("error", () => {});
      c.destroy();
      resolve(live);
    }
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
  });
}

/** Makes `path` available for binding, or throws a clear `InputError`. */
export async function prepareSocketPath(path: string): Promise<void> {
  // The parent directory is not stat'ed: the sandbox grants only the socket
  // path itself. A missing directory surfaces as a bind failure.
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new InputError("socket_path", `socket ${path}: ${describeFsError(e)}`);
  }
  if (!st.isSocket) {
    throw new InputError(
      "socket_not_socket",
      `socket ${path}: exists and is not a socket; refusing to replace it`,
    );
  }
  if (await probe(path)) {
    throw new InputError(
      "socket_in_use",
      `socket ${path}: another agent is already listening there`,
    );
  }
  Deno.removeSync(path);
}

/**
 * Proves early that `path` can be bound (its directory exists and is
 * writable) by binding and closing a throwaway listener, so a bad socket path
 * fails the start before anything is unlocked or written.
 */
export async function checkBindable(path: string): Promise<void> {
  await prepareSocketPath(path);
  const probeServer = net.createServer();
  await listenUnix(probeServer, path, 0o600, undefined);
  await new Promise<void>((resolve) => probeServer.close(() => resolve()));
  removeSocketIfOurs(path, null);
}

/** Binds `server` on `path` with the mode and group applied. */
export async function listenUnix(
  server: net.Server,
  path: string,
  mode: number,
  gid: number | undefined,
): Promise<void> {
  const old = Deno.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once("error", onError);
      server.listen(path, () => {
        server.off("error", onError);
        resolve();
      });
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT"
      ? "its directory does not exist"
      : code === "EACCES"
      ? "permission denied"
      : describeFsError(e);
    throw new InputError("socket_bind", `socket ${path}: cannot bind: ${why}`);
  } finally {
    Deno.umask(old | 0o077);
  }
  try {
    if (gid !== undefined) Deno.chownSync(path, null, gid);
    Deno.chmodSync(path, mode);
  } catch (e) {
    server.close();
    try {
      Deno.removeSync(path);
    } catch { /* best effort */ }
    throw new InputError(
      "socket_perms",
      `socket ${path}: cannot set mode ${formatMode(mode)}${
        gid === undefined ? "" : ` and group ${gid}`
      }: ${describeFsError(e)}`,
    );
  }
}

/** Removes the socket file if it is still the one we bound (same inode). */
export function removeSocketIfOurs(path: string, ino: number | null): void {
  try {
    const st = Deno.lstatSync(path);
    if (st.isSocket && (ino === null || st.ino === ino)) Deno.removeSync(path);
  } catch { /* already gone */ }
}
