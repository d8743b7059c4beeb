/**
 * The courier's decision for one message, every error class with its
 * headers: the payload reaches the agent byte for byte and unread, the
 * sealed answer goes back unchanged to its response_subject or the reply.
 */

import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { errorHeaders, handleMessage, headerText } from "../../../lib/nats_bridge/courier.ts";
import type { InvokeOutcome, Invoker } from "../../../lib/nats_bridge/invoker.ts";
import { classifyStatus } from "../../../lib/nats_bridge/invoker.ts";
import { SealedResponseSchema } from "../../../lib/wire/basil/broker/v1/broker_pb.ts";

class FakeInvoker implements Invoker {
  readonly received: Uint8Array[] = [];
  constructor(readonly outcome: InvokeOutcome | Error) {}
  invoke(m: Uint8Array): Promise<InvokeOutcome> {
    this.received.push(m.slice());
    if (this.outcome instanceof Error) return Promise.reject(this.outcome);
    return Promise.resolve(this.outcome);
  }
  close(): void {}
}

const ok = (message: Uint8Array, responseSubject?: string): InvokeOutcome => ({
  ok: true,
  response: create(SealedResponseSchema, { message, responseSubject }),
});

const REQ = new Uint8Array([0xd2, 0x84, 1, 2, 3]);

Deno.test("forwards the bytes unread and answers with the sealed bytes on the reply", async () => {
  const inv = new FakeInvoker(ok(new Uint8Array([9, 8, 7])));
  const a = await handleMessage({ reply: "_INBOX.1", data: REQ }, 1024, inv);
  assert.deepEqual(inv.received, [REQ]);
  assert.equal(a.kind, "reply");
  if (a.kind !== "reply") return;
  assert.equal(a.subject, "_INBOX.1");
  assert.deepEqual(a.payload, new Uint8Array([9, 8, 7]));
  assert.equal(a.error, undefined);
});

Deno.test("response_subject overrides the reply subject; a wildcard one is refused", async () => {
  const a = await handleMessage(
    { reply: "_INBOX.1", data: REQ },
    1024,
    new FakeInvoker(ok(new Uint8Array([1]), "tenant.reply")),
  );
  assert.ok(a.kind === "reply" && a.subject === "tenant.reply" && a.error === undefined);
  const b = await handleMessage(
    { reply: "_INBOX.1", data: REQ },
    1024,
    new FakeInvoker(ok(new Uint8Array([1]), "tenant.>")),
  );
  assert.ok(b.kind === "reply" && b.subject === "_INBOX.1");
  assert.equal(b.error?.code, "MALFORMED_REQUEST");
});

Deno.test("no reply subject: dropped, MALFORMED_REQUEST, the agent is not called", async () => {
  const inv = new FakeInvoker(ok(new Uint8Array([1])));
  const a = await handleMessage({ reply: undefined, data: REQ }, 1024, inv);
  assert.equal(a.kind, "drop");
  assert.equal(a.error?.code, "MALFORMED_REQUEST");
  assert.equal(inv.received.length, 0);
});

Deno.test("empty and oversized payloads never reach the agent", async () => {
  const inv = new FakeInvoker(ok(new Uint8Array([1])));
  const empty = await handleMessage({ reply: "r", data: new Uint8Array() }, 4, inv);
  assert.ok(empty.kind === "reply" && empty.payload.length === 0);
  assert.deepEqual(empty.error, {
    code: "MALFORMED_REQUEST",
    message: "the request payload is empty",
    retryable: false,
  });
  const big = await handleMessage({ reply: "r", data: new Uint8Array(5) }, 4, inv);
  assert.equal(big.error?.code, "MESSAGE_TOO_LARGE");
  assert.equal(big.error?.retryable, false);
  const edge = await handleMessage({ reply: "r", data: new Uint8Array(4) }, 4, inv);
  assert.equal(edge.error, undefined);
  assert.equal(inv.received.length, 1);
});

Deno.test("each invoke failure maps to its token and retryability", async () => {
  const cases = [
    ["unavailable", "BASIL_UNAVAILABLE", true],
    ["rejected", "BASIL_REJECTED", false],
    ["timeout", "TIMEOUT", true],
    ["internal", "INTERNAL", true],
  ] as const;
  for (const [kind, code, retryable] of cases) {
    const a = await handleMessage(
      { reply: "r", data: REQ },
      1024,
      new FakeInvoker({ ok: false, kind, detail: `d-${kind}` }),
    );
    assert.ok(a.kind === "reply" && a.payload.length === 0 && a.subject === "r");
    assert.deepEqual(a.error, { code, message: `d-${kind}`, retryable });
  }
  const thrown = await handleMessage(
    { reply: "r", data: REQ },
    1024,
    new FakeInvoker(new Error("x")),
  );
  assert.equal(thrown.error?.code, "INTERNAL");
  const empty = await handleMessage(
    { reply: "r", data: REQ },
    1024,
    new FakeInvoker(ok(new Uint8Array())),
  );
  assert.equal(empty.error?.code, "INTERNAL");
});

Deno.test("gRPC status classes follow upstream's mapping", () => {
  assert.equal(classifyStatus(14), "unavailable");
  assert.equal(classifyStatus(4), "timeout");
  assert.equal(classifyStatus(13), "internal");
  assert.equal(classifyStatus(2), "internal");
  for (const c of [3, 7, 8, 9, 12, 16]) assert.equal(classifyStatus(c), "rejected");
});

Deno.test("error headers: the three names, header-safe bounded text", () => {
  assert.deepEqual(errorHeaders({ code: "TIMEOUT", message: "a\r\nb", retryable: true }), [
    ["Basil-Bridge-Error", "TIMEOUT"],
    ["Basil-Bridge-Message", "a??b"],
    ["Basil-Bridge-Retryable", "true"],
  ]);
  assert.equal(headerText("x".repeat(1000)).length, 256);
});
