/**
 * Bidirectional calls (lib/transport/grpc_call.ts, request_queue.ts) on a
 * fake HTTP/2 stream: the method runs on the first message before the
 * client half-closes, later messages (split across DATA chunks) arrive in
 * order, the half-close ends the iteration, a body ending inside a message
 * and a client that outpaces the method end the call, and messages are
 * zeroed once the method has moved past them.
 */

import assert from "node:assert/strict";
import type { HeaderList, ServerStream } from "../../../lib/transport/h2_connection.ts";
import { openGrpcStream } from "../../../lib/transport/grpc_call.ts";
import type { ActiveCall, GrpcCall, GrpcMethod } from "../../../lib/transport/grpc_call.ts";
import { GRPC_STATUS } from "../../../lib/transport/grpc_wire.ts";
import { MAX_QUEUED_MESSAGES, RequestQueue } from "../../../lib/transport/request_queue.ts";

class FakeStream implements ServerStream {
  readonly id = 1;
  closed = false;
  only: HeaderList | undefined;
  trailers: HeaderList | undefined;
  written: Uint8Array[] = [];
  readonly ended: Promise<void>;
  #done!: () => void;
  constructor() {
    this.ended = new Promise((r) => (this.#done = r));
  }
  respond(_h: HeaderList) {}
  respondOnly(h: HeaderList) {
    this.only = h;
    this.#done();
  }
  write(b: Uint8Array) {
    this.written.push(b.slice(5));
    return true;
  }
  drained() {
    return Promise.resolve();
  }
  end(t: HeaderList) {
    this.trailers = t;
    this.#done();
  }
  reset(_code: number) {}
}

const REQ = new Map<string, string[]>([
  [":method", ["POST"]],
  [":path", ["/t/Chat"]],
  ["content-type", ["application/grpc"]],
]);

function framed(...msgs: Uint8Array[]): Uint8Array {
  const parts = msgs.map((m) => {
    const f = new Uint8Array(5 + m.length);
    new DataView(f.buffer).setUint32(1, m.length);
    f.set(m, 5);
    return f;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) out.set(p, (i += p.length) - p.length);
  return out;
}

function open(serve: (c: GrpcCall) => Promise<void>, max = 1024) {
  const s = new FakeStream();
  const method: GrpcMethod = { streaming: true, bidi: true, serve };
  const active = new Set<ActiveCall>();
  const abuse: string[] = [];
  const h = openGrpcStream(s, REQ, {
    methods: new Map([["/t/Chat", method]]),
    peer: undefined,
    maxMessageBytes: max,
    active,
    onAbuse: (a) => abuse.push(a.detail),
  });
  return { s, h, abuse };
}

const status = (h: HeaderList | undefined) => h?.find(([n]) => n === "grpc-status")?.[1];

Deno.test("bidi: runs on the first message, echoes later ones in order, ends on half-close", async () => {
  const seen: Uint8Array[] = [];
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const { s, h } = open(async (c) => {
    started();
    await c.send(c.request.slice());
    for await (const m of c.messages) {
      seen.push(m);
      await c.send(m.slice());
    }
  });
  h.data(framed(Uint8Array.of(1)));
  await running; // before any half-close
  const body = framed(Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3));
  h.data(body.subarray(0, 4));
  h.data(body.subarray(4, 9));
  h.data(body.subarray(9));
  h.end();
  await s.ended;
  assert.deepEqual(s.written, [Uint8Array.of(1), Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3)]);
  assert.equal(status(s.trailers), "0");
  assert.ok(seen.every((m) => m.every((b) => b === 0)), "messages zeroed once passed");
});

Deno.test("bidi: a body ending inside a message ends the call INTERNAL", async () => {
  const { s, h, abuse } = open(async (c) => {
    await c.send(Uint8Array.of(0));
    for await (const _ of c.messages) { /* drain */ }
  });
  h.data(framed(Uint8Array.of(1)));
  h.data(framed(Uint8Array.of(7, 7, 7)).subarray(0, 6));
  h.end();
  await s.ended;
  assert.equal(status(s.trailers ?? s.only), String(GRPC_STATUS.INTERNAL));
  assert.deepEqual(abuse, ["request body ends inside a message"]);
});

Deno.test("bidi: a client sending faster than the method reads is RESOURCE_EXHAUSTED", async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let iteration!: Promise<unknown>;
  const { s, h, abuse } = open((c) => {
    iteration = (async () => {
      await held;
      try {
        for await (const _ of c.messages) { /* too late */ }
      } catch (e) {
        return e;
      }
    })();
    return iteration.then(() => {});
  });
  h.data(framed(Uint8Array.of(1)));
  for (let i = 0; i <= MAX_QUEUED_MESSAGES; i++) h.data(framed(Uint8Array.of(i)));
  await s.ended;
  release();
  assert.equal(status(s.only), String(GRPC_STATUS.RESOURCE_EXHAUSTED));
  assert.deepEqual(abuse, ["request messages sent faster than read"]);
  const ended = await iteration;
  assert.ok(ended instanceof DOMException, "the method's iteration throws once the call is over");
});

Deno.test("request queue: byte limit, end after queued messages, fail wipes unread", async () => {
  const q = new RequestQueue(4);
  const a = Uint8Array.of(1, 1, 1);
  assert.ok(q.push(a));
  const b = Uint8Array.of(2, 2);
  assert.equal(q.push(b), false, "over the byte limit");
  assert.ok(b.every((x) => x === 0));
  q.end();
  const got: number[][] = [];
  for await (const m of q) got.push([...m]);
  assert.deepEqual(got, [[1, 1, 1]]);
  assert.ok(a.every((x) => x === 0));

  const r = new RequestQueue(100);
  const c = Uint8Array.of(5);
  r.push(c);
  r.fail(new Error("over"));
  assert.ok(c.every((x) => x === 0), "unread messages are zeroed");
  await assert.rejects(async () => {
    for await (const _ of r) { /* throws */ }
  }, /over/);
});
