// deno-lint-ignore-file no-console
/**
 * Argon2id floor for R12 (guides/performance.md §2.7): hash-wasm with the
 * production costs (m = 64 MiB, t = 3, p = 1, 32-byte output) as the FIRST
 * call in a fresh Deno process, which is what unlock pays (the WASM module
 * is compiled and instantiated on the first call). Prints one JSON line:
 * `import_ms` (the dynamic import of hash-wasm), `first_ms`, and
 * `second_ms` (a second call, for reference).
 *
 *   deno run … bench/argon2_first.ts
 * @module
 */

const t0 = performance.now();
const { argon2id } = await import("hash-wasm");
const t1 = performance.now();
const derive = () =>
  argon2id({
    password: crypto.getRandomValues(new Uint8Array(32)),
    salt: crypto.getRandomValues(new Uint8Array(16)),
    parallelism: 1,
    iterations: 3,
    memorySize: 65536,
    hashLength: 32,
    outputType: "binary",
  });
await derive();
const t2 = performance.now();
await derive();
const t3 = performance.now();
console.log(JSON.stringify({
  import_ms: +(t1 - t0).toFixed(2),
  first_ms: +(t2 - t1).toFixed(2),
  second_ms: +(t3 - t2).toFixed(2),
}));
