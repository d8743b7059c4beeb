/**
 * The libc calls the agent makes that Deno lacks: `getsockopt(SOL_SOCKET,
 * SO_PEERCRED)` for the kernel-attested identity of a unix-socket peer,
 * `prctl(PR_SET_PDEATHSIG)`, `malloc_trim` (returning freed heap to the
 * system), `umask`, and an unbound unix datagram socket with `sendto` for
 * the journal's native protocol (Deno has no unix datagram client without
 * `--unstable-net`, and its `unixpacket` needs a bound local path). Only `buffer` and integer parameters are used, so a scoped
 * `--allow-ffi=<libc path>` is enough, and every call keeps working after
 * the ffi permission is revoked. Symbols loaded here stay callable for the
 * agent's life, so none of them can start a program or open a file
 * (`execve` lives in exec.ts, loaded only by the launcher).
 * @module
 */

import { dlopen } from "./_dlopen.ts";

const SYMBOLS = {
  /** int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen) */
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  /** int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5) */
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  /** pid_t getppid(void) */
  getppid: { parameters: [], result: "i32" },
  /** int malloc_trim(size_t pad) */
  malloc_trim: { parameters: ["usize"], result: "i32" },
  /** mode_t umask(mode_t mask) */
  umask: { parameters: ["u32"], result: "u32" },
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen) */
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const PR_SET_PDEATHSIG = 1;
const SIGTERM = 15;

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** `sizeof(sun_path)`. */
const SUN_PATH = 108;

/** Peer credentials as reported by the kernel (`struct ucred`). */
export interface Ucred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** A handle on libc. */
export class Libc {
  #lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

  constructor(path: string) {
    this.#lib = dlopen(path, SYMBOLS);
  }

  /**
   * Sets the process umask and returns the previous one. (`Deno.umask`
   * needs an unscoped `--allow-sys` from Deno 2.9.6 on.)
   */
  umask(mask: number): number {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    return this.#lib.symbols.umask(mask);
  }

  /** Returns freed heap memory to the system (glibc `malloc_trim(0)`). */
  trimHeap(): void {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    this.#lib.symbols.malloc_trim(0n);
  }

  /** The peer of a connected unix socket, or undefined if the kernel says nothing. */
  peerCredentials(fd: number): Ucred | undefined {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    const cred = new Uint8Array(12);
    const len = new Uint32Array([12]);
    const rc = this.#lib.symbols.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len);
    if (rc !== 0 || len[0] !== 12) return undefined;
    // struct ucred { pid_t pid; uid_t uid; gid_t gid; } in host (little) endian.
    const view = new DataView(cred.buffer);
    return {
      pid: view.getInt32(0, true),
      uid: view.getUint32(4, true),
      gid: view.getUint32(8, true),
    };
  }

  /**
   * Asks the kernel to send SIGTERM when the parent process dies, then checks
   * the parent is still `expectedParent` (closing the race where it died
   * first). Returns false when the parent is already gone.
   */
  dieWithParent(expectedParent: number): boolean {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    if (this.#lib.symbols.prctl(PR_SET_PDEATHSIG, BigInt(SIGTERM), 0n, 0n, 0n) !== 0) return false;
    return this.#lib.symbols.getppid() === expectedParent;
  }

  /** A new unbound unix datagram socket (close-on-exec), or -1. */
  datagramSocket(): number {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    return this.#lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }

  /**
   * Sends one datagram to the unix socket at `path` without blocking;
   * returns whether the kernel took all of it.
   */
  sendDatagram(fd: number, data: Uint8Array, path: string): boolean {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    const p = new TextEncoder().encode(path);
    if (p.length >= SUN_PATH || p.includes(0)) return false;
    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
    const addr = new Uint8Array(2 + p.length + 1);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(p, 2);
    const n = this.#lib.symbols.sendto(
      fd,
      data,
      BigInt(data.length),
      MSG_DONTWAIT | MSG_NOSIGNAL,
      addr,
      addr.length,
    );
    return Number(n) === data.length;
  }

  /** Closes a descriptor this class opened ({@linkcode Libc.datagramSocket}). */
  closeFd(fd: number): void {
    if (!this.#lib) throw new TypeError("Cannot use libc after close");
    this.#lib.symbols.close(fd);
  }

  /** Closes the library. Safe to call twice. */
  close(): void {
    this.#lib?.close();
    this.#lib = undefined;
  }
}
