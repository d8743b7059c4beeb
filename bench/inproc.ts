// deno-lint-ignore-file no-console
/**
 * "C" for goal R8: the broker's own work per GetSecret, in process, with the
 * h.ts loop (0.5 s warm-up, then `runMs`). Prints one JSON line per series:
 *
 * - `C.adapter`: the transport's method without HTTP/2: decode
 *   the request, pin a generation, resolve the peer, decide, append the
 *   audit record, keystore read + AES-GCM open, encode, wipe. This is C.
 * - `C.broker`: lib/broker getSecret alone (no protobuf), plus the wipe.
 * - parts: `authorize+audit`, `decide`, `keystore.read+open`.
 * - `C.adapter.after-idle`: C again, but each call after a 1 ms sleep, as a
 *   server at c=1 sees it (caches and the vCPU go cold while it waits for
 *   the next request). Informational: R8 is defined with back-to-back C.
 *
 *   deno run … bench/inproc.ts [runMs]
 * @module
 */

import { Buffer } from "node:buffer";
import { authorizeKey } from "../lib/broker/authorize.ts";
import { runCall } from "../lib/broker/call.ts";
import { getSecret } from "../lib/broker/secrets.ts";
import { decide } from "../lib/policy/pdp.ts";
import { bench, benchAfterIdle } from "./h.ts";
import { BENCH_KEY, getSecretRequest, inProcessBroker } from "./setup.ts";

const runMs = Number(Deno.args[0] ?? 2000);

const dir = await Deno.makeTempDir({ prefix: "basil-bench-inproc-" });
const b = await inProcessBroker(dir);
try {
  const req = Buffer.from(getSecretRequest());
  const out = await b.adapterGetSecret(req);
  if (out.length !== 36) throw new Error(`unexpected GetSecret response size ${out.length}`);
  const gen = b.deps.state.current();
  const o = { warmMs: 500, runMs };
  const live = new AbortController().signal;
  const series = [
    await bench("C.adapter", () => b.adapterGetSecret(req), o),
    await bench("C.broker", async () => {
      const v = await runCall(
        b.deps,
        b.peer,
        live,
        (c) => getSecret(b.deps, c, BENCH_KEY, undefined),
      );
      v.value.wipe();
    }, o),
    await bench(
      "authorize+audit",
      () =>
        runCall(
          b.deps,
          b.peer,
          live,
          (c) => Promise.resolve(authorizeKey(b.deps, c, "get", BENCH_KEY)),
        ),
      o,
    ),
    await bench("decide", () => decide(gen.catalog, gen.policy, "bench", "get", BENCH_KEY), o),
    await bench("keystore.read+open", async () => {
      const v = await b.backend.kv.read("bench/value");
      v!.value.wipe();
    }, o),
    await benchAfterIdle("C.adapter.after-idle", () => b.adapterGetSecret(req), 1000),
  ];
  for (const s of series) console.log(JSON.stringify(s));
} finally {
  b.close();
  Deno.removeSync(dir, { recursive: true });
}
