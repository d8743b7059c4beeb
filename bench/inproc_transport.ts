// deno-lint-ignore-file no-console
/**
 * "C" for the transport suite (bench/transport.ts): the two operations in
 * process, on the transport suite's broker (bench/setup.ts
 * `inProcessTransport`), with the h.ts loop (0.5 s warm-up, then `runMs`).
 * One JSON line per series, named `<op>:<series>`:
 *
 * - `C`: the raw operation in the library the broker uses (guides/
 *   performance.md §4): for GetSecret the keystore read + AES-GCM open of
 *   the value (and its wipe); for Sign Ed25519 the `node:crypto` sign with
 *   the key bytes in hand. R8 subtracts this.
 * - `broker`: lib/broker in one audited request (`runCall`): resolve,
 *   decide, audit, the operation; no protobuf.
 * - `adapter`: the transport's method without HTTP/2 (bench/setup.ts
 *   `adapter`: decode, the service handler, encode, deferred wipes).
 * - `adapter.after-idle`: the same, each call after a 1 ms sleep, as a
 *   server at c=1 sees it.
 *
 *   deno run … bench/inproc_transport.ts [runMs]
 * @module
 */

import { runCall } from "../lib/broker/call.ts";
import { getSecret } from "../lib/broker/secrets.ts";
import { sign } from "../lib/broker/signing.ts";
import { signMessageAsync } from "../lib/crypto/signing.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { signingService } from "../lib/service/signing_service.ts";
import type { Summary } from "./h.ts";
import { bench, benchAfterIdle } from "./h.ts";
import {
  BENCH_KEY,
  ED25519_OP,
  getSecretRequest,
  inProcessTransport,
  tier2Payload,
  tier2Request,
  tier2ResponseBytes,
} from "./setup.ts";

const runMs = Number(Deno.args[0] ?? 2000);

const dir = await Deno.makeTempDir({ prefix: "basil-bench-inproc-transport-" });
const core = await inProcessTransport(dir);
try {
  const o = { warmMs: 500, runMs };
  const live = new AbortController().signal;
  const out: Summary[] = [];

  // GetSecret.
  const getReq = getSecretRequest();
  const get = core.adapter(secretService(core.deps), "getSecret");
  const got = await get(getReq);
  if (got.length !== 36) throw new Error(`GetSecret response is ${got.length} B, not 36`);
  out.push(
    await bench("getsecret:C", async () => {
      (await core.backend.kv.read("bench/value"))!.value.wipe();
    }, o),
    await bench("getsecret:broker", async () => {
      const v = await runCall(
        core.deps,
        core.peer,
        live,
        (c) => getSecret(core.deps, c, BENCH_KEY, undefined),
      );
      v.value.wipe();
    }, o),
    await bench("getsecret:adapter", () => get(getReq), o),
    await benchAfterIdle("getsecret:adapter.after-idle", () => get(getReq), 1000),
  );

  // Sign Ed25519, 32-byte message.
  const op = ED25519_OP;
  const payload = tier2Payload(op);
  const signReq = tier2Request(op, payload);
  const signer = core.adapter(signingService(core.deps), "sign");
  const sig = await signer(signReq);
  if (sig.length !== tier2ResponseBytes(op)) {
    throw new Error(`Sign response is ${sig.length} B, not ${tier2ResponseBytes(op)}`);
  }
  const row = core.backend.store.read("key", op.path, 1);
  if (!row || row.keyType !== op.keyType) throw new Error("no Ed25519 key row");
  const key = row.secret.expose();
  out.push(
    await bench("sign-ed25519:C", () => signMessageAsync(op.keyType, key, payload), o),
    await bench(
      "sign-ed25519:broker",
      () => runCall(core.deps, core.peer, live, (c) => sign(core.deps, c, op.keyId, payload)),
      o,
    ),
    await bench("sign-ed25519:adapter", () => signer(signReq), o),
    await benchAfterIdle("sign-ed25519:adapter.after-idle", () => signer(signReq), 1000),
  );
  row.secret.wipe();
  for (const s of out) console.log(JSON.stringify(s));
} finally {
  core.backend.close();
  core.audit.close();
  Deno.removeSync(dir, { recursive: true });
}
