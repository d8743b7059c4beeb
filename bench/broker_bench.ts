/**
 * `deno bench` view of the broker's own GetSecret work (the "C" of goal R8)
 * and its parts. bench/run.ts times the same operations with the h.ts loop
 * (bench/inproc.ts) so that they sit beside the transport figures.
 *
 *   deno bench --no-prompt --allow-read --allow-write --allow-env --allow-sys=uid,gid bench/broker_bench.ts
 * @module
 */

import { Buffer } from "node:buffer";
import { authorizeKey } from "../lib/broker/authorize.ts";
import { runCall } from "../lib/broker/call.ts";
import { getSecret } from "../lib/broker/secrets.ts";
import { decide } from "../lib/policy/pdp.ts";
import { BENCH_KEY, getSecretRequest, inProcessBroker } from "./setup.ts";

const dir = Deno.makeTempDirSync({ prefix: "basil-bench-" });
const b = await inProcessBroker(dir);
globalThis.addEventListener("unload", () => {
  b.close();
  Deno.removeSync(dir, { recursive: true });
});
const req = Buffer.from(getSecretRequest());
const gen = b.deps.state.current();
const live = new AbortController().signal;

Deno.bench(
  "GetSecret handler without transport (C)",
  { group: "getsecret", baseline: true },
  () => b.adapterGetSecret(req).then(() => {}),
);

Deno.bench("broker getSecret + wipe", { group: "getsecret" }, async () => {
  const v = await runCall(b.deps, b.peer, live, (c) => getSecret(b.deps, c, BENCH_KEY, undefined));
  v.value.wipe();
});

Deno.bench("authorizeKey (resolve, decide, audit append)", { group: "parts" }, async () => {
  await runCall(
    b.deps,
    b.peer,
    live,
    (c) => Promise.resolve(authorizeKey(b.deps, c, "get", BENCH_KEY)),
  );
});

Deno.bench("decide", { group: "parts" }, () => {
  decide(gen.catalog, gen.policy, "bench", "get", BENCH_KEY);
});

Deno.bench("keystore read + AES-GCM open + wipe", { group: "parts" }, async () => {
  const v = await b.backend.kv.read("bench/value");
  v!.value.wipe();
});
