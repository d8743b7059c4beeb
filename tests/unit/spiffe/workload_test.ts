/**
 * The Workload API's decisions: an SVID only for the caller's own attested
 * identity; ValidateJWTSVID authorizes before revealing anything about
 * issuers (an unknown issuer looks exactly like a denied one), verifies with
 * jose over the grace window, and records one truthful record per decided
 * call; the Workload API's JWKS omits `use`.
 */

import assert from "node:assert/strict";
import { runCall } from "../../../lib/broker/call.ts";
import { toBase64Url, utf8 } from "../../../lib/core/encoding.ts";
import { assembleJwt, jwtKid, signingInput } from "../../../lib/crypto/jwt.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import { jwtBundles, jwtJwks } from "../../../lib/spiffe/bundles.ts";
import { RevocationList } from "../../../lib/spiffe/revocation.ts";
import { WorkloadApi } from "../../../lib/spiffe/workload.ts";
import { PEER, rejectsWith, run, TD, withBroker } from "../broker/helpers.ts";
import type { TestBroker } from "../broker/helpers.ts";

const ISSUER_PATH = "app/jwt-issuer";

async function withApi(fn: (b: TestBroker, api: WorkloadApi) => Promise<void>): Promise<void> {
  await withBroker(async (b) => {
    await b.backend.transit.create(ISSUER_PATH, "ecdsa-p256");
    const api = new WorkloadApi(b.deps, 300, new RevocationList());
    try {
      await fn(b, api);
    } finally {
      api.close();
    }
  });
}

async function fetchToken(b: TestBroker, api: WorkloadApi, aud = "db"): Promise<string> {
  const [svid] = await run(b, (c) => api.jwtSvids(c, [aud], ""));
  return svid!.token;
}

/** A token signed by the test issuer's `version`, with the given header and claims. */
async function craft(
  b: TestBroker,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
  version = 1,
): Promise<string> {
  const pub = await b.backend.transit.publicKey(ISSUER_PATH, "ecdsa-p256", version);
  const h = { alg: "ES256", kid: jwtKid("ES256", pub), typ: "JWT", ...header };
  const input = signingInput(h, claims);
  return assembleJwt(
    input,
    await b.backend.transit.sign(ISSUER_PATH, "ecdsa-p256", input, version),
  );
}

function standard(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    aud: "db",
    exp: now + 300,
    iat: now,
    iss: `spiffe://${TD}`,
    sub: `spiffe://${TD}/app`,
    jti: "j-1",
    ...over,
  };
}

const records = (b: TestBroker) =>
  b.sink.records.map((r) => [r.op, r.target_id, r.decision, r.outcome, r.reason]);

Deno.test("FetchJWTSVID: only the caller's own identity; ValidateJWTSVID accepts it", async () => {
  await withApi(async (b, api) => {
    const token = await fetchToken(b, api);
    const v = await run(b, (c) => api.validate(c, "db", token));
    assert.equal(v.spiffeId, `spiffe://${TD}/app`);
    await rejectsWith(
      run(b, (c) => api.jwtSvids(c, ["db"], `spiffe://${TD}/admin`)),
      "UNAUTHORIZED",
    );
    assert.deepEqual(records(b), [
      ["mint", "app.jwt_issuer", "allow", "allow", "subject:app"],
      ["validate", "app.jwt_issuer", "allow", "allow", "subject:app"],
      ["mint", "app.jwt_issuer", "deny", "deny", "spiffe_id_mismatch"],
    ]);
  });
});

Deno.test("ValidateJWTSVID: an unknown issuer is denied exactly like a denied one", async () => {
  await withApi(async (b, api) => {
    const unknown = await craft(b, standard({ iss: "spiffe://nobody.example" }));
    const foreignTd = await craft(b, standard({ sub: "spiffe://elsewhere.org/app" }));
    const denied = await craft(
      b,
      standard({ iss: "other.jwt_issuer", sub: "spiffe://other.org/x" }),
    );
    const errors = [];
    for (const t of [unknown, foreignTd, denied]) {
      errors.push(await rejectsWith(run(b, (c) => api.validate(c, "db", t)), "UNAUTHORIZED"));
    }
    for (const e of errors) {
      assert.deepEqual([e.code, e.message], ["UNAUTHORIZED", "not authorized"]);
    }
    assert.deepEqual(records(b), [
      ["validate", "spiffe.jwt_svid", "deny", "deny", "unknown_issuer"],
      ["validate", "spiffe.jwt_svid", "deny", "deny", "unknown_issuer"],
      ["validate", "other.jwt_issuer", "deny", "deny", "not_permitted"],
    ]);
  });
});

Deno.test("ValidateJWTSVID: a malformed token is INVALID_ARGUMENT before any decision", async () => {
  await withApi(async (b, api) => {
    const token = await fetchToken(b, api);
    const [h, c, s] = token.split(".") as [string, string, string];
    const enc = (v: unknown) => toBase64Url(utf8(JSON.stringify(v)));
    const cases: [string, RegExp][] = [
      ["a.b", /malformed/],
      ["x.y.z", /malformed/],
      [`${h}.${c}`, /malformed/],
      [`${h}.${enc([1])}.${s}`, /malformed/],
      [`${enc({ alg: "ES256", crit: ["x"], x: 1 })}.${c}.${s}`, /unsupported critical header/],
      [`${h}.${enc(standard({ jti: undefined }))}.${s}`, /missing jti/],
      [`${h}.${enc(standard({ jti: "" }))}.${s}`, /missing jti/],
      [`${h}.${enc(standard({ exp: undefined }))}.${s}`, /missing exp/],
      [`${h}.${enc(standard({ sub: "admin" }))}.${s}`, /sub is not a SPIFFE ID/],
    ];
    b.sink.records.length = 0;
    for (const [t, why] of cases) {
      await rejectsWith(run(b, (c) => api.validate(c, "db", t)), "INVALID_ARGUMENT", why);
    }
    assert.equal(b.sink.records.length, 0);
  });
});

Deno.test("ValidateJWTSVID: signature, audience, expiry, algorithm and revocation fail as validation_failed", async () => {
  await withApi(async (b, api) => {
    const token = await fetchToken(b, api);
    const [h, , s] = token.split(".") as [string, string, string];
    const forged = `${h}.${
      toBase64Url(utf8(JSON.stringify(standard({ sub: `spiffe://${TD}/admin` }))))
    }.${s}`;
    const past = Math.floor(Date.now() / 1000) - 10;
    const cases: [string, string, RegExp][] = [
      [forged, "db", /bad signature/],
      [token, "other", /audience mismatch/],
      [await craft(b, standard({ exp: past })), "db", /expired/],
      [await craft(b, standard({ nbf: past + 3600 })), "db", /not yet valid/],
      [await craft(b, standard(), { alg: "ES384" }), "db", /algorithm does not match/],
      [await craft(b, standard(), { alg: "none" }), "db", /algorithm does not match/],
      [await craft(b, standard(), { kid: "someone-else" }), "db", /bad signature/],
    ];
    b.sink.records.length = 0;
    for (const [t, aud, why] of cases) {
      await rejectsWith(run(b, (c) => api.validate(c, aud, t)), "INVALID_ARGUMENT", why);
    }
    const jti = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).jti;
    api.revocations.add({ trust_domain: TD, jti, expires_at_unix: past + 4000 });
    await rejectsWith(run(b, (c) => api.validate(c, "db", token)), "INVALID_ARGUMENT", /revoked/);
    assert.equal(b.sink.records.length, cases.length + 1, "exactly one record per call");
    for (const r of b.sink.records) {
      assert.deepEqual([r.decision, r.outcome], ["allow", "validation_failed"]);
    }
  });
});

Deno.test("ValidateJWTSVID: versions in the grace window verify, with or without kid; older ones fail", async () => {
  await withApi(async (b, api) => {
    const v1 = await craft(b, standard(), {}, 1);
    const v1NoKid = await craft(b, standard(), { kid: undefined }, 1);
    await b.backend.transit.rotate(ISSUER_PATH, "ecdsa-p256");
    const v2NoKid = await craft(b, standard(), { kid: undefined }, 2);
    for (const t of [v1, v1NoKid, v2NoKid]) {
      assert.equal((await run(b, (c) => api.validate(c, "db", t))).spiffeId, `spiffe://${TD}/app`);
    }
    await b.backend.transit.rotate(ISSUER_PATH, "ecdsa-p256"); // v1 leaves the window (grace 1)
    for (const t of [v1, v1NoKid]) {
      await rejectsWith(
        run(b, (c) => api.validate(c, "db", t)),
        "INVALID_ARGUMENT",
        /bad signature/,
      );
    }
    assert.equal(
      (await run(b, (c) => api.validate(c, "db", v2NoKid))).spiffeId,
      `spiffe://${TD}/app`,
    );
  });
});

Deno.test("Workload API: an unresolved or unattested caller gets nothing, and is recorded", async () => {
  await withApi(async (b, api) => {
    const token = await fetchToken(b, api);
    const stranger = { uid: PEER.uid + 1, gid: 1, pid: 1 };
    b.sink.records.length = 0;
    await rejectsWith(run(b, (c) => api.validate(c, "db", token), stranger), "UNAUTHORIZED");
    await rejectsWith(run(b, (c) => api.jwtSvids(c, ["db"], ""), stranger), "UNAUTHORIZED");
    await rejectsWith(
      run(b, (c) => Promise.resolve(api.authorizeBundles(c, "jwt")), stranger),
      "UNAUTHORIZED",
    );
    // An unauthenticated subject granted mint still has no kernel identity to name.
    const { catalog } = b.deps.state.current();
    const policy = loadPolicy(
      JSON.stringify({
        schemaVersion: 2,
        subjects: { anon: { anyOf: [{ kind: "unauthenticated" }] } },
        unauthenticatedSubject: "anon",
        rules: [{ id: "r", subjects: ["anon"], action: ["op:mint"], target: ["app.jwt_issuer"] }],
      }),
      "policy.json",
    );
    b.deps.state.swap({ id: 2, catalog, policy });
    const unattested = runCall(
      b.deps,
      undefined,
      new AbortController().signal,
      (c) => api.jwtSvids(c, ["db"], ""),
    );
    await rejectsWith(unattested, "UNAUTHORIZED");
    assert.deepEqual(records(b), [
      ["validate", "spiffe.jwt_svid", "deny", "deny", `no_actor_subject:${stranger.uid}`],
      ["mint", "spiffe.jwt_svid", "deny", "deny", `no_actor_subject:${stranger.uid}`],
      [
        "fetch_jwt_bundles",
        "spiffe.jwt_bundles",
        "deny",
        "deny",
        `no_actor_subject:${stranger.uid}`,
      ],
      ["mint", "spiffe.jwt_svid", "deny", "deny", "no_attested_identity"],
    ]);
  });
});

Deno.test("JWKS: the Workload API's bundle omits use; the HTTP endpoint's keeps use:sig", async () => {
  await withApi(async (b) => {
    const gen = b.deps.state.current();
    const doc = JSON.parse(
      new TextDecoder().decode((await jwtBundles(b.deps, gen)).get(`spiffe://${TD}`)),
    );
    assert.equal(doc.keys.length, 1);
    assert.equal("use" in doc.keys[0], false);
    assert.deepEqual([doc.keys[0].kty, doc.keys[0].alg], ["EC", "ES256"]);
    const http = (await jwtJwks(b.deps, gen)).get(`spiffe://${TD}`)!;
    assert.deepEqual(http.map((k) => k.use), ["sig"]);
    assert.equal(http[0]!.kid, doc.keys[0].kid);
    assert.ok(!(await jwtBundles(b.deps, gen)).has("spiffe://other.org"), "no key, no entry");
  });
});

Deno.test("ValidateJWTSVID: a missing audience or token is INVALID_ARGUMENT with no record", async () => {
  await withApi(async (b, api) => {
    await rejectsWith(run(b, (c) => api.validate(c, "", "x.y.z")), "INVALID_ARGUMENT", /audience/);
    await rejectsWith(run(b, (c) => api.validate(c, "db", "")), "INVALID_ARGUMENT", /svid/);
    assert.equal(b.sink.records.length, 0);
  });
});
