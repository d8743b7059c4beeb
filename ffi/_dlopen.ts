/**
 * Locates and opens native libraries for the FFI layer. Under a scoped
 * `--allow-ffi=<path>` Deno only allows a `dlopen` of that literal absolute
 * path, so the path is resolved once (by the launcher, which may stat files)
 * and passed in; this module never guesses inside the sandbox.
 * @module
 */

/** Where libc usually lives; the first existing one wins. */
export const LIBC_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
];

/** Where libnghttp2 usually lives (Debian `libnghttp2-14`, Fedora `libnghttp2`); the first existing one wins. */
export const LIBNGHTTP2_CANDIDATES: readonly string[] = LIBC_CANDIDATES.map((p) =>
  p.replace(/libc\.so\.6$/, "libnghttp2.so.14")
);

/** The first candidate that exists, or undefined. Needs read permission. */
export function findLibrary(candidates: readonly string[]): string | undefined {
  for (const p of candidates) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* try the next one */ }
  }
  return undefined;
}

/** Opens `path` with `symbols`, naming the library in any failure. */
export function dlopen<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, symbols);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
    throw new Error(`Cannot open native library ${path}`, { cause: e });
  }
}
