/**
 * The JWKS handler in process: concurrent requests share one rebuild, the
 * 2 s cache holds, a failed build is a bare 503 and is retried next time.
 * @module
 */

import assert from "node:assert/strict";
import { nullLogger } from "../../../lib/core/log.ts";
import { jwksHandler } from "../../../lib/transport/jwks_http.ts";

function source() {
  let calls = 0;
  let fail = false;
  const waiting: (() => void)[] = [];
  return {
    get calls() {
      return calls;
    },
    failNext() {
      fail = true;
    },
    release() {
      for (const w of waiting.splice(0)) w();
    },
    jwks(): Promise<Record<string, string>[]> {
      calls++;
      if (fail) {
        fail = false;
        return Promise.reject(new Error("backend down: secret-looking detail"));
      }
      return new Promise((res) => waiting.push(() => res([{ kty: "OKP", kid: `k${calls}` }])));
    },
  };
}

const get = (h: (r: Request) => Promise<Response>) => h(new Request("http://x/jwks.json"));

Deno.test("jwks handler: concurrent requests share one rebuild; the cache holds 2 s", async () => {
  const src = source();
  let now = 0;
  const h = jwksHandler({ issuer: undefined, source: src, logger: nullLogger, now: () => now });
  const pending = Array.from({ length: 20 }, () => get(h));
  await Promise.resolve();
  src.release();
  const bodies = await Promise.all(pending.map(async (p) => (await p).text()));
  assert.equal(src.calls, 1);
  assert.ok(bodies.every((b) => b === bodies[0]));
  now = 1999;
  await (await get(h)).text();
  assert.equal(src.calls, 1, "cached");
  now = 2000;
  const later = get(h);
  await Promise.resolve();
  src.release();
  assert.match(await (await later).text(), /k2/);
  assert.equal(src.calls, 2);
});

Deno.test("jwks handler: a failed build is a bare 503, then retried", async () => {
  const src = source();
  const h = jwksHandler({ issuer: undefined, source: src, logger: nullLogger, now: () => 0 });
  src.failNext();
  const r = await get(h);
  assert.equal(r.status, 503);
  assert.equal(await r.text(), "unavailable\n");
  const again = get(h);
  await Promise.resolve();
  src.release();
  assert.equal((await again).status, 200);
  assert.equal(src.calls, 2);
});

Deno.test("jwks handler: only GET", async () => {
  const h = jwksHandler({ issuer: undefined, source: source(), logger: nullLogger });
  for (const method of ["HEAD", "POST", "PUT", "OPTIONS"]) {
    const r = await h(new Request("http://x/jwks.json", { method }));
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get("allow"), "GET");
    await r.body?.cancel();
  }
});

Deno.test("jwks handler: discovery carries one stable ETag and answers 304 to it", async () => {
  const h = jwksHandler({ issuer: "https://issuer.example", source: source(), logger: nullLogger });
  const url = "http://x/.well-known/openid-configuration";
  const first = await h(new Request(url));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "application/json");
  const etag = first.headers.get("etag")!;
  assert.match(etag, /^"[A-Za-z0-9_-]{43}"$/);
  assert.equal(JSON.parse(await first.text()).jwks_uri, "https://issuer.example/jwks.json");
  const again = await h(new Request(url));
  assert.equal(again.headers.get("etag"), etag);
  await again.body?.cancel();
  const cached = await h(new Request(url, { headers: { "if-none-match": etag } }));
  assert.equal(cached.status, 304);
  assert.equal(cached.headers.get("etag"), etag);
  const off = jwksHandler({ issuer: undefined, source: source(), logger: nullLogger });
  assert.equal((await off(new Request(url))).status, 404);
});
