// deno-lint-ignore-file no-console
/**
 * Startup floor for R12 (guides/performance.md §2.6): `deno run` of a hello
 * that imports @grpc/grpc-js. The unlock suite times it from spawn to exit.
 * @module
 */

import "@grpc/grpc-js";

console.log("hello");
