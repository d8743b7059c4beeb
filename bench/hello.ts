// deno-lint-ignore-file no-console
/**
 * Startup floor (guides/performance.md §2.6): `deno run` of a hello with no
 * imports. The unlock suite times it from spawn to exit.
 * @module
 */

console.log("hello");
