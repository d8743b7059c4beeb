// deno-lint-ignore-file no-console
/**
 * "C" for the Tier 2 goals (R1, R2, R3, R6, R8): each operation in process,
 * through the same library calls the broker makes, with the h.ts loop
 * (0.5 s warm-up, then `runMs`). Prints one JSON line per series, named
 * `<op>:<series>`:
 *
 * - `C`: the crypto alone, key bytes in hand, exactly the call the transit
 *   engine makes: `signMessageAsync(keyType, stored, msg)` (node:crypto
 *   Ed25519, @noble/curves P-256) or `aeadSeal("aes-256-gcm", key, 1 KiB,
 *   transitAad(…))`. This is C in the goals.
 * - `C.x8`: the same with 8 in flight (h.ts benchConc). It only helps an
 *   implementation that runs off the JS thread; all three here are
 *   synchronous, so it is informational.
 * - parts, for attribution: `store.read` (one sealed key row: SQLite read +
 *   AES-GCM open + wipe), `transit` (the engine's sign/encrypt: read + crypto),
 *   `broker` (lib/broker sign/encrypt: authorize, audit append, key info,
 *   transit), `adapter` (the transport's method without HTTP/2: decode,
 *   peer, broker, encode).
 * - `adapter.after-idle`: the handler, each call after a 1 ms sleep, as a
 *   server at c=1 sees it. Informational.
 *
 *   deno run … bench/inproc_tier2.ts [runMs]
 * @module
 */

import { Buffer } from "node:buffer";
import { transitAad } from "../lib/backends/keystore/transit_aead.ts";
import { encrypt } from "../lib/broker/aead.ts";
import { runCall } from "../lib/broker/call.ts";
import { sign } from "../lib/broker/signing.ts";
import { aeadSeal } from "../lib/crypto/aead.ts";
import { signMessageAsync } from "../lib/crypto/signing.ts";
import { bench, benchAfterIdle, benchConc } from "./h.ts";
import type { Summary } from "./h.ts";
import {
  inProcessTier2,
  TIER2_OPS,
  tier2Payload,
  tier2Request,
  tier2ResponseBytes,
} from "./setup.ts";
import type { Tier2Op } from "./setup.ts";

const runMs = Number(Deno.args[0] ?? 2000);
const IN_FLIGHT = 8;

const dir = await Deno.makeTempDir({ prefix: "basil-bench-tier2-" });
const b = await inProcessTier2(dir);
try {
  const o = { warmMs: 500, runMs };
  const live = new AbortController().signal;
  const out: Summary[] = [];
  for (const op of TIER2_OPS) {
    const payload = tier2Payload(op);
    const req = Buffer.from(tier2Request(op, payload));
    const adapter = b.adapter(op);
    const first = await adapter(Buffer.from(req));
    if (first.length !== tier2ResponseBytes(op)) {
      throw new Error(`${op.name}: response is ${first.length} B, not ${tier2ResponseBytes(op)}`);
    }
    // The stored key row, opened once: the bytes the engine hands to lib/crypto.
    const row = b.backend.store.read("key", op.path, 1);
    if (!row || row.keyType !== op.keyType) throw new Error(`${op.name}: no key row`);
    const key = row.secret.expose();
    const crypto = cryptoCall(op, key, payload);
    const transit = b.backend.transit;
    const layer = op.method === "sign"
      ? {
        transit: () => transit.sign(op.path, op.keyType, payload, 1),
        broker: () => runCall(b.deps, b.peer, live, (c) => sign(b.deps, c, op.keyId, payload)),
      }
      : {
        transit: () => transit.encrypt(op.path, op.keyType, payload, undefined, 1),
        broker: () =>
          runCall(
            b.deps,
            b.peer,
            live,
            (c) => encrypt(b.deps, c, op.keyId, "aes-256-gcm", payload, undefined),
          ),
      };
    // The Encrypt handler wipes the plaintext in the decoded request, which
    // is a view of the request buffer: give every call its own copy.
    const call = op.method === "encrypt" ? () => adapter(Buffer.from(req)) : () => adapter(req);
    const extra = { op: op.name, impl: op.impl };
    out.push(
      await bench(`${op.name}:C`, crypto, { ...o, extra }),
      await benchConc(`${op.name}:C.x8`, async () => await crypto(), IN_FLIGHT, { ...o, extra }),
      await bench(`${op.name}:store.read`, () => {
        b.backend.store.read("key", op.path, 1)!.secret.wipe();
      }, { ...o, extra }),
      await bench(`${op.name}:transit`, layer.transit, { ...o, extra }),
      await bench(`${op.name}:broker`, layer.broker, { ...o, extra }),
      await bench(`${op.name}:adapter`, call, { ...o, extra }),
      await benchAfterIdle(`${op.name}:adapter.after-idle`, call, 1000),
    );
    row.secret.wipe();
  }
  for (const s of out) console.log(JSON.stringify(s));
} finally {
  b.close();
  Deno.removeSync(dir, { recursive: true });
}

/** The crypto call the transit engine makes for `op`, with the key bytes in hand. */
function cryptoCall(op: Tier2Op, key: Uint8Array, payload: Uint8Array): () => unknown {
  if (op.method === "sign") return () => signMessageAsync(op.keyType, key, payload);
  // As transit.ts encrypt (synchronous): fresh nonce, AAD binding algorithm and version 1.
  return () => aeadSeal("aes-256-gcm", key, payload, transitAad("aes-256-gcm", 1, undefined));
}
