// deno-lint-ignore-file no-console
/**
 * "C" for the SPIFFE goals (R4, R5): each operation in process, through the
 * broker's own code, with the h.ts loop (0.5 s warm-up, then `runMs`).
 * Prints one JSON line per series:
 *
 * - `jwt:sign`: the ES256 signature alone (`signMessageAsync`, @noble P-256)
 *   over a JWT signing input, key bytes in hand.
 * - `jwt:C`: `mintJwtSvid` (lib/spiffe/jwt_svid.ts: key info, public key for
 *   the kid, claims, the project's JWT encoding, transit sign). C for R4.
 * - `jwt:api`: `WorkloadApi.jwtSvids` (caller resolution, policy decision,
 *   audit append, mint). `jwt:adapter`: the transport's FetchJWTSVID method
 *   minus HTTP/2 (decode, header gate, api, encode).
 * - `x509:keygen`: one P-256 key pair (`generateSigningKey`).
 * - `x509:C`: `pki.issue` on the keystore pki engine: open the CA row, leaf
 *   keygen, TBS, CA signature, DER. C_x509 for R5.
 * - `x509:new-identity`: `X509SvidSource.subscribe` for an identity never seen
 *   (issue + trust bundle read), as the first FetchX509SVID of a workload.
 * - `x509:cached`: `WorkloadApi.x509Svid` for an identity already issued
 *   (resolution, policy, audit, cache hit).
 * - `x509:rotate-ca`: `pki.rotateCa` (CA keygen, self-signed certificate,
 *   store append), what RotateSecret of the CA does before the re-issue.
 * - `x509:rotation.cold`: the first 3 `rotateCa` + `issue` pairs of the
 *   process, timed before anything else runs (cold code, as in an agent
 *   that rotates rarely); p50 of the 3.
 *
 *   deno run … bench/inproc_spiffe.ts [runMs]
 * @module
 */

import { generateSigningKey, signMessageAsync } from "../lib/crypto/signing.ts";
import { signingInput } from "../lib/crypto/jwt.ts";
import { runCall } from "../lib/broker/call.ts";
import { mintJwtSvid } from "../lib/spiffe/jwt_svid.ts";
import { Buffer } from "node:buffer";
import { bench, summarize } from "./h.ts";
import type { Summary } from "./h.ts";
import {
  inProcessSpiffe,
  JWT_AUDIENCE,
  JWT_ISSUER_PATH,
  jwtRequest,
  X509_CA_PATH,
} from "./spiffe_setup.ts";

const runMs = Number(Deno.args[0] ?? 2000);
const dir = await Deno.makeTempDir({ prefix: "basil-bench-spiffe-" });
const b = await inProcessSpiffe(dir);
try {
  const o = { warmMs: 500, runMs };
  const live = new AbortController().signal;
  const out: Summary[] = [];
  const spiffeId = "spiffe://example.org/bench";
  const leaf = { dnsSans: [], ipSans: [], uriSans: [spiffeId], ttlSecs: 300, svid: true };
  const pki = b.backend.pki;
  const cold: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await pki.rotateCa(X509_CA_PATH, "ecdsa-p256");
    (await pki.issue(X509_CA_PATH, "ecdsa-p256", leaf)).privateKeyPkcs8.wipe();
    cold.push(performance.now() - t);
  }
  const coldRotation = summarize("x509:rotation.cold", cold, cold.reduce((a, x) => a + x, 0), {
    samples_ms: cold.map((x) => +x.toFixed(2)),
  });
  const req = Buffer.from(jwtRequest());
  const first = await b.fetchJwt(req);
  if (first.length < 100) throw new Error(`FetchJWTSVID answered ${first.length} B`);
  const row = b.backend.store.read("key", JWT_ISSUER_PATH, 1);
  if (!row) throw new Error("no JWT issuer key row");
  const key = row.secret.expose();
  const input = signingInput({ alg: "ES256", kid: "k", typ: "JWT" }, {
    aud: JWT_AUDIENCE,
    exp: 2000000000,
    iat: 1999999700,
    iss: "spiffe://example.org",
    sub: spiffeId,
    jti: "x".repeat(43),
  });
  out.push(
    await bench("jwt:sign", () => signMessageAsync("ecdsa-p256", key, input), o),
    await bench("jwt:C", () => mintJwtSvid(b.deps, b.jwt, spiffeId, [JWT_AUDIENCE]), o),
    await bench(
      "jwt:api",
      () => runCall(b.deps, b.peer, live, (c) => b.api.jwtSvids(c, [JWT_AUDIENCE], "")),
      o,
    ),
    await bench("jwt:adapter", () => b.fetchJwt(req), {
      ...o,
      extra: { resp_bytes: first.length },
    }),
  );
  row.secret.wipe();
  let n = 0;
  out.push(
    await bench("x509:keygen", () => generateSigningKey("ecdsa-p256").privateKey.wipe(), o),
    await bench("x509:C", async () => {
      const c = await pki.issue(X509_CA_PATH, "ecdsa-p256", leaf);
      c.privateKeyPkcs8.wipe();
    }, o),
    await bench(
      "x509:new-identity",
      async () =>
        (await b.api.source.subscribe(b.x509, `spiffe://example.org/bench-${n++}`, () => {}))
          .unsubscribe(),
      o,
    ),
    await bench(
      "x509:cached",
      async () =>
        (await runCall(b.deps, b.peer, live, (c) => b.api.x509Svid(c, () => {}))).unsubscribe(),
      o,
    ),
    await bench("x509:rotate-ca", () => pki.rotateCa(X509_CA_PATH, "ecdsa-p256"), o),
    coldRotation,
  );
  for (const s of out) console.log(JSON.stringify(s));
} finally {
  b.close();
  Deno.removeSync(dir, { recursive: true });
}
