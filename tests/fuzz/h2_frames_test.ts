/**
 * Fuzz: HTTP/2 frames on the agent's socket (lib/transport, libnghttp2).
 * Each case opens a raw connection and writes a frame sequence: random
 * frames (any type, flags, stream id, payload) after the preface, and valid
 * gRPC conversations (preface, SETTINGS, a Health call in HEADERS + DATA)
 * with byte-level edits. Then the client closes its side. Properties:
 * - the server ends every such connection (GOAWAY and/or close), never
 *   leaves it hanging;
 * - a second, well-behaved connection opened before the fuzz keeps working
 *   (a Health call after every case);
 * - the agent never exits and logs no fatal error or unexpected exception.
 */

import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { AdminService, HealthRequestSchema } from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import { fuzz, fuzzRuns, withEdits } from "../helpers/fuzz.ts";
import {
  F,
  frame,
  grpcMessage,
  grpcRequest,
  hpack,
  PREFACE,
  RawH2,
  settings,
  T,
} from "../helpers/h2_frames.ts";
import { rawCall } from "../helpers/rawgrpc.ts";

const HEALTH = `/${AdminService.typeName}/${AdminService.method.health.name}`;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A valid conversation: preface, SETTINGS, one Health call on stream 1, a PING. */
function validConversation(streams: number): Uint8Array {
  const parts = [PREFACE, settings([[3, 100], [4, 65535]]), frame(T.SETTINGS, F.ACK, 0)];
  const body = grpcMessage(toBinary(HealthRequestSchema, create(HealthRequestSchema)));
  for (let i = 0; i < streams; i++) {
    const sid = 1 + 2 * i;
    parts.push(frame(T.HEADERS, F.END_HEADERS, sid, hpack(grpcRequest(HEALTH))));
    parts.push(frame(T.DATA, F.END_STREAM, sid, body));
  }
  parts.push(frame(T.PING, 0, 0, new Uint8Array(8)));
  parts.push(frame(T.WINDOW_UPDATE, 0, 0, new Uint8Array([0, 0, 0x10, 0])));
  return concat(parts);
}

const randomFrame = fc.record({
  type: fc.oneof(fc.constantFrom(...Object.values(T)), fc.integer({ min: 0, max: 255 })),
  flags: fc.integer({ min: 0, max: 255 }),
  streamId: fc.oneof(fc.constantFrom(0, 1, 3, 2, 0x7fffffff), fc.nat()),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.constant(hpack(grpcRequest(HEALTH))),
    fc.uint8Array({ minLength: 4, maxLength: 4 }),
    fc.uint8Array({ minLength: 8, maxLength: 8 }),
  ),
}).map((f) => frame(f.type, f.flags, f.streamId, f.payload));

const randomConversation = fc.tuple(
  fc.boolean(),
  fc.array(randomFrame, { minLength: 1, maxLength: 8 }),
).map(([preface, frames]) => concat([...(preface ? [PREFACE, settings()] : []), ...frames]));

const conversations = fc.oneof(
  { weight: 2, arbitrary: randomConversation },
  {
    weight: 3,
    arbitrary: withEdits(fc.integer({ min: 1, max: 3 }).map(validConversation)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 128 }) },
);

Deno.test({
  name: "fuzz: random and mutated HTTP/2 frame sequences end their connection, others unaffected",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const f = await Fixture.create();
  const a = await f.start();
  let exited = false;
  a.child.status.then(() => (exited = true));
  try {
    // The untouched sequence answers: the fuzz starts from a conversation the server accepts.
    const good = new RawH2(f.socket);
    await good.write(validConversation(1));
    await good.frame((fr) => fr.type === T.HEADERS && fr.streamId === 1);
    good.destroy();

    await fuzz(
      "h2 frames",
      fc.asyncProperty(conversations, async (bytes) => {
        const c = new RawH2(f.socket);
        await c.connected();
        await c.write(bytes);
        c.socket.end(); // our side is done: the server must end the connection
        await c.whenClosed();
        c.destroy();
        assert.ok(!exited, `the agent exited:\n${a.stderr}`);
        const health = await rawCall(f.socket, AdminService.method.health, {});
        assert.equal(health.code, "OK", `Health on another connection: ${health.code}`);
      }),
      fuzzRuns(150, 0.1),
    );
  } finally {
    const { code, stderr } = await a.stop();
    f.cleanup();
    assert.equal(code, 0, stderr);
    const bad = stderr.split("\n").filter((l) => /fatal|"detail":"unexpected /.test(l));
    assert.deepEqual(bad, [], "a fatal error or an unexpected exception in the agent log");
  }
});
