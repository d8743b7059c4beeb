/**
 * Fuzz: AWS KMS answers as the aws-kms backend reads them (the SDK's JSON
 * deserializer, then lib/backends/aws_kms). A proxy in front of a real KMS
 * peer, moto_server (tests/helpers/moto.ts), edits each answer after the
 * setup: field-level edits of the JSON (dropped fields, wrong types, odd
 * values), byte-level edits of the text, or another HTTP status. Every
 * backend operation then returns a value or throws a `BasilError`; never a
 * stray `TypeError`, never a hang. And an answer naming another key, or
 * none (`KeyId` of Sign, GetPublicKey, Encrypt, Decrypt), is never a
 * success.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { openAwsKmsBackend } from "../../lib/backends/aws_kms/mod.ts";
import { BasilError } from "../../lib/core/errors.ts";
import { nullLogger } from "../../lib/core/log.ts";
import { MOTO, Moto, MOTO_ENV } from "../helpers/moto.ts";
import { gated, missingNeeds } from "../helpers/peers.ts";
import {
  applyFieldEdits,
  fieldEdits,
  fuzz,
  fuzzRuns,
  mutatedBytes,
  onlyTypedAsync,
} from "../helpers/fuzz.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** How the proxy rewrites one answer: the KMS action, the status and the body. */
type Rewrite = (action: string, status: number, body: Uint8Array) => [number, Uint8Array];

interface Rig {
  readonly backend: ReturnType<typeof openAwsKmsBackend>;
  set(rewrite: Rewrite | undefined): void;
  close(): Promise<void>;
}

function rig(moto: Moto): Rig {
  let rewrite: Rewrite | undefined;
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const res = await fetch(`${moto.url}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.body === null ? undefined : await req.arrayBuffer(),
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const action = (req.headers.get("x-amz-target") ?? "").replace(/^TrentService\./, "");
    const [status, out] = rewrite ? rewrite(action, res.status, body) : [res.status, body];
    const h = new Headers();
    for (const k of ["content-type", "x-amzn-requestid", "x-amzn-errortype"]) {
      const v = res.headers.get(k);
      if (v !== null) h.set(k, v);
    }
    return new Response(new Uint8Array(out), { status, headers: h });
  });
  const backend = openAwsKmsBackend({
    name: "kms",
    addr: `aws-kms:us-east-1,endpoint=http://127.0.0.1:${proxy.addr.port}`,
    cred: { type: "AwsKms", region: "us-east-1" },
    logger: nullLogger,
    env: (n) => MOTO_ENV[n],
    ecdsaMessageType: "RAW", // moto hashes a DIGEST again (see tests/contract/aws_kms_test.ts)
    timeoutMs: 5_000,
  });
  return {
    backend,
    set: (r) => (rewrite = r),
    async close() {
      backend.close();
      await proxy.shutdown();
    },
  };
}

/** Keys and an envelope made through the clean proxy; the operations to fuzz. */
async function prepare(r: Rig) {
  const t = r.backend.transit!;
  await t.create("fuzzsig", "ecdsa-p256");
  await t.rotate("fuzzsig", "ecdsa-p256");
  await t.create("fuzzaead", "aes-256-gcm");
  const aad = enc.encode("aad");
  const env = await t.encrypt("fuzzaead", "aes-256-gcm", enc.encode("secret"), aad, 1);
  const sig = await t.sign("fuzzsig", "ecdsa-p256", enc.encode("m"), 2);
  return {
    t,
    env,
    ops: {
      info: () => t.info("fuzzsig"),
      exists: () => r.backend.exists({ engine: "transit", path: "fuzzsig" } as never),
      publicKey: () => t.publicKey("fuzzsig", "ecdsa-p256", 1),
      sign: () => t.sign("fuzzsig", "ecdsa-p256", enc.encode("m")),
      signOld: () => t.sign("fuzzsig", "ecdsa-p256", enc.encode("m"), 1),
      verify: () => t.verify("fuzzsig", "ecdsa-p256", enc.encode("m"), sig, 2),
      encrypt: () => t.encrypt("fuzzaead", "aes-256-gcm", enc.encode("x"), aad, 1),
      decrypt: () => t.decrypt("fuzzaead", "aes-256-gcm", env, aad),
      create: (n: number) => t.create(`fuzzk${n}`, "ecdsa-p256"),
      rotate: () => t.rotate("fuzzaead", "aes-256-gcm"),
    } as Record<string, (n: number) => Promise<unknown>>,
  };
}

const bodyEdit = fc.oneof(
  {
    weight: 3,
    arbitrary: fieldEdits.map((edits) => (body: Uint8Array) => {
      try {
        return enc.encode(
          JSON.stringify(applyFieldEdits(JSON.parse(dec.decode(body)), edits)) ?? "",
        );
      } catch {
        return body;
      }
    }),
  },
  {
    weight: 2,
    arbitrary: fc.nat().map((seed) => (body: Uint8Array) =>
      body.length === 0 ? body : fc.sample(mutatedBytes([body]), { seed, numRuns: 1 })[0]!
    ),
  },
);

/** Another status now and then (a 5xx is retried by the SDK, so rarely). */
const statusEdit = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom(200, 400, 404) },
  { weight: 1, arbitrary: fc.constantFrom(500, 302) },
);

/** The key id of an ARN (`arn:aws:kms:…:key/<id>`), or the text itself. */
const keyIdOf = (s: string) => s.replace(/^arn:aws[a-z-]*:kms:[^:]*:[0-9]*:key\//, "");

const peer = missingNeeds([MOTO]).length === 0;
if (peer) {
  // The SDK's default credential chain reads these (moto accepts any).
  for (const [k, v] of Object.entries(MOTO_ENV)) Deno.env.set(k, v);
}
/** One moto for the file (reset per test), started before any test so no test owns it. */
const moto = peer ? await Moto.start() : undefined;
if (moto) globalThis.addEventListener("unload", () => moto.stop());

Deno.test(gated([MOTO], {
  name: "fuzz: edited AWS KMS answers give a value or a BasilError for every operation",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await moto!.reset();
    const r = rig(moto!);
    try {
      const { ops } = await prepare(r);
      const names = Object.keys(ops);
      let n = 0;
      await fuzz(
        "aws kms answers",
        fc.asyncProperty(fc.constantFrom(...names), bodyEdit, statusEdit, async (op, e, s) => {
          r.set((_action, status, body) => [s ?? status, e(body)]);
          try {
            await onlyTypedAsync(() => ops[op]!(n++), [BasilError]);
          } finally {
            r.set(undefined);
          }
        }),
        fuzzRuns(120, 0.02),
      );
    } finally {
      await r.close();
    }
  },
}));

Deno.test(gated([MOTO], {
  name: "fuzz: an AWS KMS answer naming another key, or none, is never a success",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await moto!.reset();
    const r = rig(moto!);
    try {
      const { ops } = await prepare(r);
      const checked: Record<string, string> = {
        sign: "Sign",
        signOld: "Sign",
        publicKey: "GetPublicKey",
        encrypt: "Encrypt",
        decrypt: "Decrypt",
      };
      /** Key ids and ARNs seen in answers: the "other keys" to name (or none). */
      const seen = new Set<string>();
      let checkedRuns = 0;
      const other: fc.Arbitrary<() => string | undefined> = fc.oneof(
        fc.nat().map((i) => () => [...seen][i % Math.max(1, seen.size)] ?? "x"),
        fc.string({ minLength: 1, maxLength: 80 }).map((s) => () => s),
        fc.constant(() => undefined),
      );
      await fuzz(
        "aws kms key id",
        fc.asyncProperty(fc.constantFrom(...Object.keys(checked)), other, async (op, pick) => {
          let swapped = false;
          r.set((action, status, body) => {
            const text = dec.decode(body);
            for (const m of text.matchAll(/"(?:KeyId|Arn)"\s*:\s*"([^"]+)"/g)) seen.add(m[1]!);
            if (action !== checked[op] || status !== 200) return [status, body];
            const v = JSON.parse(text) as Record<string, unknown>;
            const was = String(v.KeyId);
            const now = pick();
            if (now !== undefined && keyIdOf(now) === keyIdOf(was)) return [status, body];
            if (now === undefined) delete v.KeyId; // an answer naming no key
            else v.KeyId = now;
            swapped = true;
            return [status, enc.encode(JSON.stringify(v))];
          });
          try {
            const out = await onlyTypedAsync(() => ops[op]!(0), [BasilError]);
            if (!swapped) return;
            checkedRuns++;
            assert.equal(out, undefined, `${op} answered by another key succeeded`);
          } finally {
            r.set(undefined);
          }
        }),
        fuzzRuns(40, 0.01),
      );
      assert.ok(checkedRuns > 0, "no answer named another key");
    } finally {
      await r.close();
    }
  },
}));

Deno.test(gated([MOTO], {
  name: "aws-kms: an answer that names no key is refused (regression)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await moto!.reset();
    const r = rig(moto!);
    try {
      const { ops } = await prepare(r);
      for (
        const [op, action] of [
          ["sign", "Sign"],
          ["publicKey", "GetPublicKey"],
          ["encrypt", "Encrypt"],
          ["decrypt", "Decrypt"],
        ] as const
      ) {
        assert.ok(await ops[op]!(0), `${op} works with the KeyId in place`);
        r.set((a, status, body) => {
          if (a !== action) return [status, body];
          const v = JSON.parse(dec.decode(body)) as Record<string, unknown>;
          assert.equal(typeof v.KeyId, "string", `moto names the key in ${action}`);
          delete v.KeyId;
          return [status, enc.encode(JSON.stringify(v))];
        });
        try {
          await assert.rejects(ops[op]!(0), BasilError, op);
        } finally {
          r.set(undefined);
        }
      }
    } finally {
      await r.close();
    }
  },
}));
