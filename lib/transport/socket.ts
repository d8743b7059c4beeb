/**
 * The listening unix socket's filesystem side.
 *
 * - A stale socket file (connect is refused: nobody accepts) is replaced; a
 *   live one is refused; a path that is not a socket is never touched. Any
 *   other probe outcome (permission denied, a full backlog, no answer) is
 *   not proof that nobody is listening, so the start is refused too.
 * - The socket is bound under umask 0177, so it is 0600 from the first
 *   instant, then chmod'ed to `socket-mode` and chown'ed to `socket-group`.
 *   The configured mode is never looser at any moment than it ends up.
 * @module
 */

import net from "node:net";
import { InputError } from "../core/errors.ts";
import { describeFsError, formatMode } from "../core/fs.ts";

/**
 * What connecting to an existing socket file showed: `live` (it accepted),
 * `stale` (ECONNREFUSED: nobody listens), `gone` (ENOENT: removed meanwhile),
 * or `unknown` with a short reason (any other error, or no answer in time).
 */
export type ProbeOutcome =
  | { readonly kind: "live" }
  | { readonly kind: "stale" }
  | { readonly kind: "gone" }
  | { readonly kind: "unknown"; readonly reason: string };

/** The part of a `net.Socket` the probe uses (injectable for tests). */
export interface ProbeConnection {
  once(event: "connect" | "error", f: (e: Error) => void): unknown;
  on(event: "error", f: (e: Error) => void): unknown;
  removeAllListeners(): unknown;
  destroy(): unknown;
}

/** Options for {@linkcode probeSocket}. */
export interface ProbeOptions {
  /** Opens the connection (default `net.connect`). */
  readonly connect?: (path: string) => ProbeConnection;
  /** How long to wait for an answer (default 2000 ms). */
  readonly timeoutMs?: number;
}

/** Connects to `path` once and reports what that showed. */
export function probeSocket(path: string, o: ProbeOptions = {}): Promise<ProbeOutcome> {
  const connect = o.connect ?? ((p: string) => net.connect(p));
  const timeoutMs = o.timeoutMs ?? 2000;
  return new Promise((resolve) => {
    const c = connect(path);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    function done(outcome: ProbeOutcome): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.removeAllListeners();
      c.on("error", () => {});
      c.destroy();
      resolve(outcome);
    }
    // Listeners first: nothing the connection emits may be missed.
    c.once("connect", () => done({ kind: "live" }));
    c.once("error", (e) => {
      const code = (e as { code?: unknown }).code;
      if (code === "ECONNREFUSED") done({ kind: "stale" });
      else if (code === "ENOENT") done({ kind: "gone" });
      else done({ kind: "unknown", reason: typeof code === "string" ? code : e.name });
    });
    if (!settled) {
      timer = setTimeout(
        () => done({ kind: "unknown", reason: `no answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    }
  });
}

/**
 * What to do with an existing socket file after probing it: `remove` it
 * (stale), `keep` going (it vanished by itself), or throw a clear
 * `InputError` (live, or not provably stale).
 */
export function staleSocketAction(path: string, outcome: ProbeOutcome): "remove" | "none" {
  switch (outcome.kind) {
    case "stale":
      return "remove";
    case "gone":
      return "none";
    case "live":
      throw new InputError(
        "socket_in_use",
        `socket ${path}: another agent is already listening there`,
      );
    case "unknown":
      throw new InputError(
        "socket_unknown",
        `socket ${path}: cannot tell whether another agent is listening there ` +
          `(connect: ${outcome.reason}); refusing to replace it`,
      );
  }
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
  if (staleSocketAction(path, await probeSocket(path)) === "remove") {
    try {
      Deno.removeSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new InputError(
          "socket_path",
          `socket ${path}: cannot remove the stale socket: ${describeFsError(e)}`,
        );
      }
    }
  }
}

/** Sets the process umask and returns the previous one (libc's, in the agent). */
export type SetUmask = (mask: number) => number;

/**
 * Proves early that `path` can be bound (its directory exists and is
 * writable) by binding and closing a throwaway listener, so a bad socket path
 * fails the start before anything is unlocked or written.
 */
export async function checkBindable(path: string, umask: SetUmask = Deno.umask): Promise<void> {
  await prepareSocketPath(path);
  const probeServer = net.createServer();
  await listenUnix(probeServer, path, { mode: 0o600, gid: undefined, umask });
  await new Promise<void>((resolve) => probeServer.close(() => resolve()));
  removeSocketIfOurs(path, null);
}

/** Binds `server` on `path` with the mode and group applied. */
export async function listenUnix(
  server: net.Server,
  path: string,
  o: { mode: number; gid: number | undefined; umask?: SetUmask },
): Promise<void> {
  const { mode, gid } = o;
  const umask = o.umask ?? Deno.umask;
  const old = umask(0o177);
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
    umask(old | 0o077);
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
