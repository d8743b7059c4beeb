/**
 * bindBrokerService: every handler runs as one audited request. The
 * transport's context reaches the handler unchanged beside `call`; a unary
 * result and a stream's first message leave only after the request's record
 * is written; a request that never reaches a decision writes nothing.
 */

import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { recordDecision, resolveCaller } from "../../../lib/broker/authorize.ts";
import { utf8 } from "../../../lib/core/encoding.ts";
import { secretService } from "../../../lib/service/secret_service.ts";
import { bindBrokerService } from "../../../lib/service/types.ts";
import type { BrokerContext, CallContext } from "../../../lib/service/types.ts";
import {
  AdminService,
  GetSecretRequestSchema,
  ListCatalogRequestSchema,
} from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import type {
  CatalogEntry,
  GetSecretRequest,
  ListCatalogRequest,
} from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import { PEER, rejectsWith, withBroker } from "../broker/helpers.ts";

function context(): CallContext & { deferred: (() => void)[] } {
  const deferred: (() => void)[] = [];
  return {
    peer: PEER,
    metadata: (name) => (name === "x-test" ? ["1"] : []),
    signal: new AbortController().signal,
    defer: (fn) => deferred.push(fn),
    deferred,
  };
}

type Secret = {
  getSecret(req: GetSecretRequest, ctx: CallContext): Promise<{ value: Uint8Array }>;
  listCatalog(
    req: ListCatalogRequest,
    ctx: CallContext,
    send: (m: Partial<CatalogEntry>) => Promise<void>,
  ): Promise<void>;
};

Deno.test("unary: the handler sees the transport's context and a call; one record when it settles", async () => {
  await withBroker(async (b) => {
    await b.backend.kv.write("app/value", utf8("v1"));
    const h = secretService(b.deps).handlers as unknown as Secret;
    const ctx = context();
    const res = await h.getSecret(create(GetSecretRequestSchema, { secretId: "app.value" }), ctx);
    assert.deepEqual(res.value, utf8("v1"));
    assert.equal(ctx.deferred.length, 1, "defer reached the transport");
    assert.deepEqual(b.sink.records.map((r) => [r.op, r.outcome]), [["get", "allow"]]);
    // No decision (the id is malformed): no record.
    await rejectsWith(
      h.getSecret(create(GetSecretRequestSchema, { secretId: "" }), context()),
      "INVALID_REQUEST",
    );
    b.sink.failing = true;
    await rejectsWith(
      h.getSecret(create(GetSecretRequestSchema, { secretId: "app.value" }), context()),
      "INTERNAL",
    );
  });
});

Deno.test("stream: the first message leaves only after the record is written", async () => {
  await withBroker(async (b) => {
    const h = secretService(b.deps).handlers as unknown as Secret;
    const seen: [string, number][] = [];
    await h.listCatalog(create(ListCatalogRequestSchema, { prefix: "app." }), context(), (m) => {
      seen.push([m.name!, b.sink.records.length]);
      return Promise.resolve();
    });
    assert.ok(seen.length > 3);
    assert.ok(seen.every(([, n]) => n === 1), "written before the first message, once");
    b.sink.failing = true;
    const none: string[] = [];
    await rejectsWith(
      h.listCatalog(create(ListCatalogRequestSchema, {}), context(), (m) => {
        none.push(m.name!);
        return Promise.resolve();
      }),
      "INTERNAL",
    );
    assert.deepEqual(none, []);
  });
});

Deno.test("the wrapper passes metadata, signal and peer through unchanged", async () => {
  await withBroker(async (b) => {
    let got: BrokerContext | undefined;
    const binding = bindBrokerService(b.deps, AdminService, {
      status: (_req: unknown, ctx: BrokerContext) => {
        got = ctx;
        const caller = resolveCaller(b.deps, ctx.call);
        recordDecision(b.deps, caller, "status", "broker.status", true, "subject:app");
        return Promise.resolve({ backend: "", version: "", protocol: 1 });
      },
    } as never);
    const ctx = context();
    const status = binding.handlers.status as (r: unknown, c: CallContext) => Promise<unknown>;
    await status({}, ctx);
    assert.deepEqual(got!.peer, PEER);
    assert.deepEqual(got!.call.peer, PEER);
    assert.deepEqual(got!.metadata("x-test"), ["1"]);
    assert.equal(got!.signal, ctx.signal);
    assert.equal(b.sink.records.length, 1);
    assert.equal(binding.handlers.health, undefined, "a gap is left for the transport to refuse");
  });
});
