/**
 * One gRPC call on a stream (lib/transport/grpc_call.ts), against a fake
 * HTTP/2 stream that records what the call sends: trailers-only failures,
 * a unary answer as headers + one message + trailers, the request and
 * response buffers zeroed, a message over the cap refused from its length
 * prefix alone, compressed messages refused, the deadline enforced.
 */

import assert from "node:assert/strict";
import type { HeaderList, ServerStream } from "../../../lib/transport/h2_connection.ts";
import { openGrpcStream } from "../../../lib/transport/grpc_call.ts";
import type { ActiveCall, GrpcMethod } from "../../../lib/transport/grpc_call.ts";
import { GRPC_STATUS } from "../../../lib/transport/grpc_wire.ts";

class FakeStream implements ServerStream {
  readonly id = 1;
  closed = false;
  headers: HeaderList | undefined;
  only: HeaderList | undefined;
  trailers: HeaderList | undefined;
  written: Uint8Array[] = [];
  resets: number[] = [];
  ended: Promise<void>;
  #done!: () => void;
  constructor() {
    this.ended = new Promise((r) => (this.#done = r));
  }
  respond(h: HeaderList) {
    this.headers = h;
  }
  respondOnly(h: HeaderList) {
    this.only = h;
    this.#done();
  }
  write(b: Uint8Array) {
    this.written.push(b.slice());
    return true;
  }
  drained() {
    return Promise.resolve();
  }
  end(t: HeaderList) {
    this.trailers = t;
    this.#done();
  }
  reset(code: number) {
    this.resets.push(code);
  }
}

const REQ = (path: string, extra: [string, string][] = []) =>
  new Map<string, string[]>([
    [":method", ["POST"]],
    [":path", [path]],
    ["content-type", ["application/grpc"]],
    ...extra.map(([k, v]) => [k, [v]] as [string, string[]]),
  ]);

function framed(msg: Uint8Array, flag = 0): Uint8Array {
  const f = new Uint8Array(5 + msg.length);
  f[0] = flag;
  new DataView(f.buffer).setUint32(1, msg.length);
  f.set(msg, 5);
  return f;
}

const get = (h: HeaderList | undefined, k: string) => h?.find(([n]) => n === k)?.[1];

function env(methods: Record<string, GrpcMethod>, max = 1024) {
  const active = new Set<ActiveCall>();
  return {
    methods: new Map(Object.entries(methods)),
    peer: undefined,
    maxMessageBytes: max,
    active,
  };
}

Deno.test("unary: headers, one message, OK trailers; request and response buffers zeroed", async () => {
  let seen: Uint8Array | undefined;
  let response: Uint8Array | undefined;
  const s = new FakeStream();
  const h = openGrpcStream(
    s,
    REQ("/t/Echo"),
    env({
      "/t/Echo": {
        streaming: false,
        serve: (c) => {
          seen = c.request;
          response = Uint8Array.of(9, 8, 7);
          return Promise.resolve(response);
        },
      },
    }),
  );
  const body = framed(Uint8Array.of(1, 2, 3));
  h.data(body);
  assert.ok(body.every((x) => x === 0), "received bytes are zeroed once copied");
  h.end();
  await s.ended;
  await Promise.resolve();
  assert.equal(get(s.headers, ":status"), "200");
  assert.deepEqual(s.written, [framed(Uint8Array.of(9, 8, 7))]);
  assert.equal(get(s.trailers, "grpc-status"), "0");
  assert.ok(response!.every((x) => x === 0), "the method's response buffer is zeroed");
  assert.ok(seen!.every((x) => x === 0), "the request message is zeroed after the method settled");
});

Deno.test("a failure before any message is trailers-only; a foreign throw is INTERNAL", async () => {
  for (
    const [serve, code, message] of [
      [() => Promise.reject(new Error("secret detail")), GRPC_STATUS.INTERNAL, "internal error"],
    ] as const
  ) {
    const s = new FakeStream();
    const h = openGrpcStream(s, REQ("/t/M"), env({ "/t/M": { streaming: false, serve } }));
    h.data(framed(new Uint8Array()));
    h.end();
    await s.ended;
    assert.equal(s.headers, undefined);
    assert.equal(get(s.only, "grpc-status"), String(code));
    assert.equal(get(s.only, "grpc-message"), message);
  }
});

Deno.test("refusals before the method runs: unknown path, compression, caps, message count", () => {
  const never: GrpcMethod = {
    streaming: false,
    serve: () => Promise.reject(new Error("must not run")),
  };
  const m = { "/t/M": never };
  const status = (s: FakeStream) => Number(get(s.only, "grpc-status"));

  let s = new FakeStream();
  openGrpcStream(s, REQ("/t/Other"), env(m));
  assert.equal(status(s), GRPC_STATUS.UNIMPLEMENTED);

  s = new FakeStream();
  openGrpcStream(s, REQ("/t/M", [["grpc-encoding", "gzip"]]), env(m));
  assert.equal(status(s), GRPC_STATUS.UNIMPLEMENTED);
  assert.equal(get(s.only, "grpc-accept-encoding"), "identity");

  s = new FakeStream();
  let h = openGrpcStream(s, REQ("/t/M"), env(m));
  assert.equal(
    h.data(framed(Uint8Array.of(1), 1)),
    false,
    "a compressed message resets the stream",
  );
  assert.equal(status(s), GRPC_STATUS.UNIMPLEMENTED);

  s = new FakeStream();
  h = openGrpcStream(s, REQ("/t/M"), env(m, 1024));
  const prefix = new Uint8Array(5);
  new DataView(prefix.buffer).setUint32(1, 0x7fffffff);
  assert.equal(h.data(prefix), false, "refused from the 5-byte prefix alone");
  assert.equal(status(s), GRPC_STATUS.RESOURCE_EXHAUSTED);

  s = new FakeStream();
  h = openGrpcStream(s, REQ("/t/M"), env(m));
  h.data(framed(Uint8Array.of(1)));
  assert.equal(h.data(framed(Uint8Array.of(2))), false);
  assert.equal(status(s), GRPC_STATUS.INTERNAL);

  s = new FakeStream();
  h = openGrpcStream(s, REQ("/t/M"), env(m));
  h.end();
  assert.equal(status(s), GRPC_STATUS.INTERNAL, "no request message");

  s = new FakeStream();
  openGrpcStream(s, REQ("/t/M", [["grpc-timeout", "10 seconds"]]), env(m));
  assert.equal(status(s), GRPC_STATUS.INTERNAL, "malformed grpc-timeout");

  s = new FakeStream();
  openGrpcStream(s, new Map([[":method", ["GET"]], [":path", ["/t/M"]]]), env(m));
  assert.equal(get(s.only, ":status"), "405");
});

Deno.test("grpc-timeout: the call is answered DEADLINE_EXCEEDED and its signal aborts", async () => {
  let signal: AbortSignal | undefined;
  const s = new FakeStream();
  const h = openGrpcStream(
    s,
    REQ("/t/Wait", [["grpc-timeout", "20m"]]),
    env({
      "/t/Wait": {
        streaming: false,
        serve: (c) => {
          signal = c.signal;
          return new Promise((r) => c.signal.addEventListener("abort", () => r(undefined)));
        },
      },
    }),
  );
  h.data(framed(new Uint8Array()));
  h.end();
  await s.ended;
  assert.equal(get(s.only, "grpc-status"), String(GRPC_STATUS.DEADLINE_EXCEEDED));
  assert.equal(signal?.aborted, true);
});

Deno.test("a reset stream aborts the running method and its late result is dropped", async () => {
  let signal: AbortSignal | undefined;
  let late: Uint8Array | undefined;
  let finish!: () => void;
  const s = new FakeStream();
  const h = openGrpcStream(
    s,
    REQ("/t/Slow"),
    env({
      "/t/Slow": {
        streaming: false,
        serve: (c) => {
          signal = c.signal;
          return new Promise((r) => (finish = () => r(late = Uint8Array.of(5, 5))));
        },
      },
    }),
  );
  h.data(framed(new Uint8Array()));
  h.end();
  h.close(8);
  assert.equal(signal?.aborted, true);
  finish();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(s.written, [], "nothing sent after the reset");
  assert.ok(late!.every((x) => x === 0), "the late response is zeroed");
});
