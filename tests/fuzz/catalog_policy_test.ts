/**
 * Fuzz: catalog and policy JSON (lib/catalog/load.ts, lib/policy/load.ts).
 * Random text, byte-level mutations of valid documents, and field-level
 * mutations (dropped fields, wrong types, odd values, `__proto__` keys) all
 * either load or throw `InputError` with the loader's token, naming the file.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { loadCatalog } from "../../lib/catalog/load.ts";
import { InputError } from "../../lib/core/errors.ts";
import { loadPolicy } from "../../lib/policy/load.ts";
import { fuzz, fuzzRuns, fuzzText, mutatedJson } from "../helpers/fuzz.ts";
import { validCatalog } from "../unit/catalog/helpers.ts";
import { names } from "../unit/policy/helpers.ts";

const CATALOG = "/etc/basil/catalog.json";
const POLICY = "/etc/basil/policy.json";

const POLICY_DOC = {
  schemaVersion: 2,
  subjects: {
    app: { anyOf: [{ kind: "unix", uid: 1000 }, { kind: "unix", gid: 100 }] },
    ops: { allOf: [{ kind: "unix", uid: 0 }], breakGlass: true },
    anon: { anyOf: [{ kind: "unauthenticated" }] },
    signer: {
      anyOf: [{
        kind: "signature-key",
        algorithm: "ed25519",
        public: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
      }],
    },
  },
  unauthenticatedSubject: "anon",
  unixSubjects: { "svc-app": { user: "app" }, people: { group: "users" } },
  roles: { reader: ["get", "list"], writer: ["set", "rotate"] },
  rules: [
    { id: "r1", subjects: ["app"], action: ["role:reader", "op:sign"], target: ["app.*"] },
    { id: "r2", subjects: ["ops"], action: ["*"], target: ["**"], comment: "break glass" },
    { id: "r3", subjects: ["people", "svc-app"], action: ["op:get"], target: ["shared.*"] },
  ],
  config: {
    names: { users: { "1000": "app" }, groups: { "100": "users" } },
    memberships: { "1000": [100] },
  },
  rateLimits: {
    default: { perSecond: 10, burst: 20 },
    subjects: { app: { perSecond: 0.5, burst: 2, classes: { mint: { perSecond: 1, burst: 1 } } } },
  },
};

function expectLoadOrInputError(token: string, file: string, run: () => unknown): void {
  try {
    run();
  } catch (e) {
    if (!(e instanceof InputError)) {
      const what = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
      throw new Error(`stray exception ${what}`, { cause: e });
    }
    assert.equal(e.token, token);
    assert.ok(e.message.startsWith(`${file}`), `no file in: ${e.message}`);
  }
}

const catalog = (text: string) =>
  expectLoadOrInputError("catalog_invalid", CATALOG, () => loadCatalog(text, CATALOG));
const policy = (text: string) =>
  expectLoadOrInputError(
    "policy_invalid",
    POLICY,
    () => loadPolicy(text, POLICY, { names: names() }),
  );

Deno.test("the sample catalog and policy load (the fuzz starts from valid input)", () => {
  loadCatalog(JSON.stringify(validCatalog()), CATALOG);
  loadPolicy(JSON.stringify(POLICY_DOC), POLICY, { names: names() });
});

Deno.test("fuzz: catalog JSON text loads or throws catalog_invalid", async () => {
  const sample = JSON.stringify(validCatalog(), null, 1);
  await fuzz("catalog text", fc.property(fuzzText([sample], 4096), catalog), fuzzRuns(400));
});

Deno.test("fuzz: field-level catalog mutations load or throw catalog_invalid", async () => {
  await fuzz(
    "catalog fields",
    fc.property(mutatedJson(validCatalog()), (v) => catalog(JSON.stringify(v) ?? "")),
    fuzzRuns(600),
  );
});

Deno.test("fuzz: policy JSON text loads or throws policy_invalid", async () => {
  const sample = JSON.stringify(POLICY_DOC, null, 1);
  await fuzz("policy text", fc.property(fuzzText([sample], 4096), policy), fuzzRuns(400));
});

Deno.test("fuzz: field-level policy mutations load or throw policy_invalid", async () => {
  await fuzz(
    "policy fields",
    fc.property(mutatedJson(POLICY_DOC), (v) => policy(JSON.stringify(v) ?? "")),
    fuzzRuns(600),
  );
});
