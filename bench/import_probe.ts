// deno-lint-ignore-file no-console
/**
 * Start-up attribution for the unlock suite: the time to import the agent's
 * module graph (lib/daemon.ts and everything it pulls in: grpc-js,
 * protobuf, SQLite, jose, hash-wasm, …) in a fresh process, to compare with
 * `deno run` hello + grpc-js. Prints `{"import_ms": …}`.
 *
 *   deno run … bench/import_probe.ts
 * @module
 */

const t0 = performance.now();
await import("../lib/daemon.ts");
const t1 = performance.now();
console.log(JSON.stringify({ import_ms: +(t1 - t0).toFixed(2) }));
