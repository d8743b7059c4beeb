/**
 * HTTP/2 abuse against a real agent, with hand-built frames
 * (tests/helpers/h2_frames.ts): preface-only and slowloris connections, a
 * 1 MiB header block, a CONTINUATION flood, rapid reset, PING and SETTINGS
 * floods, a window-0 stall, garbage, and 1,000 idle connections. After each,
 * while the abusive connections are still open where that is the point, a
 * fresh client gets Health, the agent is the same live process, and it
 * printed no crash signature. Floods must end the abusive connection.
 */

import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Fixture, readProc } from "../helpers/fixture.ts";
import type { RunningAgent } from "../helpers/fixture.ts";
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
import {
  GetSecretRequestSchema,
  HealthResponseSchema,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";

const HEALTH = "/basil.broker.v1.AdminService/Health";
const CRASH = [
  "free(): invalid pointer",
  "double free",
  "corrupted",
  "Assertion",
  "panicked",
  "Segmentation",
  "fatal",
];

const id = (b: Buffer) => b;

/** One Health call on a fresh connection; resolves to `alive`. */
function health(socket: string): Promise<boolean> {
  const c = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(HEALTH, id, id, Buffer.alloc(0), new grpc.Metadata(), {
      deadline: Date.now() + 30_000,
    }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(fromBinary(HealthResponseSchema, res!).alive);
    });
  });
}

async function assertServing(a: RunningAgent, pid: number, what: string): Promise<void> {
  // deno-lint-ignore no-console
  if (Deno.env.get("ABUSE_DEBUG")) console.log("phase done:", what);
  assert.equal(await health(a.fixture.socket), true, `Health after ${what}`);
  assert.equal(a.agentPid, pid, `same process after ${what}`);
  const status = new TextDecoder().decode(readProc(`/proc/${pid}/status`));
  assert.match(status, /State:\s+[RSD]/, `agent alive after ${what}`);
  for (const sign of CRASH) assert.ok(!a.stderr.includes(sign), `${sign} after ${what}`);
}

/** The preface plus the client's first SETTINGS. */
const handshake = (extra: [number, number][] = []) => [PREFACE, settings(extra)];

/** Opens `n` connections one by one; a connect refused by a full backlog is retried. */
async function openAll(socket: string, n: number, first: (c: RawH2) => Promise<void>) {
  const conns: RawH2[] = [];
  let refused = 0;
  while (conns.length < n) {
    const c = new RawH2(socket);
    try {
      await c.connected();
    } catch (e) {
      if (++refused > 10 * n) throw e;
      continue;
    }
    await first(c);
    conns.push(c);
  }
  return conns;
}

Deno.test("HTTP/2 abuse: the agent ends floods, survives stalls and keeps answering Health", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  const sock = f.socket;
  const pid = a.agentPid;
  try {
    // Preface only, and slowloris: a header block that never ends, and half a frame header.
    const stalled = [
      ...await openAll(sock, 40, (c) => c.write(PREFACE)),
      ...await openAll(
        sock,
        40,
        (c) =>
          c.write(...handshake(), frame(T.HEADERS, 0, 1, hpack(grpcRequest(HEALTH).slice(0, 3)))),
      ),
      ...await openAll(
        sock,
        40,
        (c) => c.write(...handshake(), frame(T.PING, 0, 0, new Uint8Array(8)).subarray(0, 5)),
      ),
    ];
    await assertServing(a, pid, "preface-only and slowloris connections");
    for (const c of stalled) c.destroy();

    // A 1 MiB header block (HEADERS + CONTINUATIONs of many 8 KiB fields).
    {
      const c = new RawH2(sock);
      await c.connected();
      const fields: [string, string][] = [...grpcRequest(HEALTH)];
      for (let i = 0; i < 128; i++) fields.push([`x-pad-${i}`, "p".repeat(8000)]);
      const block = hpack(fields);
      const parts: Uint8Array[] = [...handshake()];
      for (let off = 0, first = true; off < block.length; off += 16384, first = false) {
        const chunk = block.subarray(off, off + 16384);
        const last = off + 16384 >= block.length;
        parts.push(
          frame(
            first ? T.HEADERS : T.CONTINUATION,
            last ? F.END_HEADERS | (first ? F.END_STREAM : 0) : 0,
            1,
            chunk,
          ),
        );
      }
      await c.write(...parts);
      await c.whenClosed();
      await assertServing(a, pid, "a 1 MiB header block");
    }

    // CONTINUATION flood: one HEADERS without END_HEADERS, then endless empty CONTINUATIONs.
    {
      const c = new RawH2(sock);
      await c.connected();
      const flood = Array.from({ length: 5000 }, () => frame(T.CONTINUATION, 0, 1));
      c.write(...handshake(), frame(T.HEADERS, 0, 1, hpack(grpcRequest(HEALTH))), ...flood);
      await c.whenClosed();
      await assertServing(a, pid, "a CONTINUATION flood");
    }

    // Rapid reset: streams opened and reset at once, thousands of them.
    {
      const c = new RawH2(sock);
      await c.connected();
      const block = hpack(grpcRequest(HEALTH));
      const parts: Uint8Array[] = [...handshake()];
      for (let i = 0; i < 3000; i++) {
        const sid = 1 + 2 * i;
        parts.push(
          frame(T.HEADERS, F.END_HEADERS, sid, block),
          frame(T.RST_STREAM, 0, sid, Uint8Array.of(0, 0, 0, 8)),
        );
      }
      c.write(...parts);
      await c.whenClosed();
      await assertServing(a, pid, "rapid reset");
    }

    // PING and SETTINGS floods from clients that never read their ACKs.
    for (
      const [what, one] of [["PING", frame(T.PING, 0, 0, new Uint8Array(8))], [
        "SETTINGS",
        settings([[4, 65535]]),
      ]] as const
    ) {
      const c = new RawH2(sock, { read: false });
      await c.connected();
      const flood = Array.from({ length: 20_000 }, () => one);
      await c.write(...handshake(), ...flood);
      c.read(); // only a reading socket sees the server close it
      await c.whenClosed();
      await assertServing(a, pid, `a ${what} flood`);
    }

    // Window 0: the client allows no response bytes; the call waits, others are served.
    {
      const c = new RawH2(sock);
      await c.connected();
      const req = grpcMessage(
        toBinary(
          GetSecretRequestSchema,
          create(GetSecretRequestSchema, { secretId: "app.db_password" }),
        ),
      );
      await c.write(
        ...handshake([[4, 0]]),
        frame(
          T.HEADERS,
          F.END_HEADERS,
          1,
          hpack(grpcRequest("/basil.broker.v1.SecretService/GetSecret")),
        ),
        frame(T.DATA, F.END_STREAM, 1, req),
      );
      await assertServing(a, pid, "a window-0 stall");
      assert.equal(c.closed, false, "a stalled reader is not cut off");
      c.destroy();
    }

    // Garbage instead of a preface.
    {
      const c = new RawH2(sock);
      await c.connected();
      c.write(crypto.getRandomValues(new Uint8Array(4096)));
      await c.whenClosed();
      await assertServing(a, pid, "garbage");
    }

    // 1,000 idle connections with a finished handshake.
    {
      const idle = await openAll(sock, 1000, (c) => c.write(...handshake()));
      await assertServing(a, pid, "1,000 idle connections");
      assert.equal(idle.filter((c) => c.closed).length, 0, "idle connections are kept");
      for (const c of idle) c.destroy();
    }
    await assertServing(a, pid, "the end");
  } finally {
    await a.stop();
    f.cleanup();
  }
});
