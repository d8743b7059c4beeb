/**
 * `execve` through libc: the launcher (`basil agent`) replaces itself with
 * the sandboxed agent, so one process runs and systemd's MainPID is the
 * agent. Loaded only by the launcher, never by the agent, whose loaded
 * symbols stay callable for its whole life.
 * @module
 */

import { dlopen } from "./_dlopen.ts";
import { NativeMemory } from "./_memory.ts";

const SYMBOLS = {
  /** int execve(const char *path, char *const argv[], char *const envp[]) */
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const enc = new TextEncoder();

/** A C string in a buffer whose backing store never moves. */
function cString(s: string): Uint8Array {
  if (s.includes("\0")) throw new TypeError("Cannot pass a NUL byte to execve");
  const bytes = enc.encode(s);
  const b = new Uint8Array(new ArrayBuffer(bytes.length + 1));
  b.set(bytes);
  return b;
}

/**
 * Replaces this process with `path` run with `argv` and exactly the
 * environment `env`. Returns only when execve failed.
 */
export function execve(
  libcPath: string,
  path: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): void {
  const lib = dlopen(libcPath, SYMBOLS);
  const mem = new NativeMemory(libcPath);
  try {
    const keep: Uint8Array[] = []; // referenced until execve returns
    const array = (items: readonly string[]) => {
      const ptrs = new BigUint64Array(new ArrayBuffer(8 * (items.length + 1)));
      items.forEach((it, i) => {
        const b = cString(it);
        keep.push(b);
        ptrs[i] = mem.addressOf(b);
      });
      return new Uint8Array(ptrs.buffer);
    };
    const envp = array(Object.entries(env).map(([k, v]) => `${k}=${v}`));
    lib.symbols.execve(cString(path), array(argv), envp);
    keep.length = 0;
  } finally {
    mem.close();
    lib.close();
  }
}
