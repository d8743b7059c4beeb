/**
 * No per-connection leak: a real agent takes thousands of short connections
 * (one Health call each, the shape of a `basil` CLI call), and its RSS may
 * not grow by more than 2 KiB per connection after warm-up. The agent on
 * grpc-js/node:http2 grew 21-25 KiB per connection without bound.
 *
 * RSS is sampled every few hundred connections; the growth compared is the
 * rise of the low-water mark (the lowest sample of each half of the measured
 * window), so a garbage-collection swing is not mistaken for a leak and a
 * steady climb is not hidden by one. No assertion depends on time.
 */

import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Fixture, readProc } from "../helpers/fixture.ts";

const HEALTH = "/basil.broker.v1.AdminService/Health";
const WARMUP = 4000;
const MEASURED = 12000;
const SAMPLE_EVERY = 500;
const PARALLEL = 4;
const MAX_KIB_PER_CONN = 2;

const id = (b: Buffer) => b;

function oneConnection(socket: string): Promise<void> {
  const c = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(HEALTH, id, id, Buffer.alloc(0), (err) => {
      c.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

function rssKiB(pid: number): number {
  const status = new TextDecoder().decode(readProc(`/proc/${pid}/status`));
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

async function connections(socket: string, n: number, each?: (done: number) => void) {
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < n) {
      next++;
      await oneConnection(socket);
      done++;
      each?.(done);
    }
  }));
}

Deno.test("thousands of short connections: agent RSS grows at most 2 KiB per connection", async () => {
  const f = await Fixture.create();
  const a = await f.start();
  try {
    const pid = a.agentPid;
    await connections(f.socket, WARMUP);
    const samples: number[] = [];
    await connections(f.socket, MEASURED, (done) => {
      if (done % SAMPLE_EVERY === 0) samples.push(rssKiB(pid));
    });
    const half = Math.floor(samples.length / 2);
    const early = Math.min(...samples.slice(0, half));
    const late = Math.min(...samples.slice(half));
    const perConn = (late - early) / (MEASURED / 2);
    // deno-lint-ignore no-console
    console.log(JSON.stringify({ earlyKiB: early, lateKiB: late, kibPerConn: perConn, samples }));
    assert.ok(
      perConn <= MAX_KIB_PER_CONN,
      `RSS low-water mark rose ${perConn.toFixed(2)} KiB per connection (${early} → ${late} KiB)`,
    );
    assert.equal(a.agentPid, pid);
  } finally {
    await a.stop();
    f.cleanup();
  }
});
