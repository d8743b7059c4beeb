/**
 * The stale-socket probe (lib/transport/socket.ts): only a refused connect
 * (ECONNREFUSED) proves a socket file stale; every other outcome (EACCES,
 * EAGAIN, no answer) refuses to start instead of removing the file. The
 * connection is faked: unit tests run without --allow-net.
 */

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { InputError } from "../../../lib/core/errors.ts";
import { probeSocket, staleSocketAction } from "../../../lib/transport/socket.ts";
import type { ProbeConnection, ProbeOutcome } from "../../../lib/transport/socket.ts";

const PATH = "/run/basil/basil.sock";

/** A fake connection that emits `event` (with an error carrying `code`), or nothing. */
function fake(event: "connect" | "error" | "silent", code?: string) {
  const state = { destroyed: false };
  const connect = (): ProbeConnection => {
    const c = new EventEmitter() as EventEmitter & { destroy(): void };
    c.destroy = () => {
      state.destroyed = true;
    };
    if (event !== "silent") {
      queueMicrotask(() => {
        if (event === "connect") c.emit("connect");
        else c.emit("error", Object.assign(new Error(`connect ${code}`), { code }));
      });
    }
    return c;
  };
  return { connect, state };
}

Deno.test("probe: connect = live, ECONNREFUSED = stale, ENOENT = gone", async () => {
  const cases: [ReturnType<typeof fake>, ProbeOutcome][] = [
    [fake("connect"), { kind: "live" }],
    [fake("error", "ECONNREFUSED"), { kind: "stale" }],
    [fake("error", "ENOENT"), { kind: "gone" }],
  ];
  for (const [f, expected] of cases) {
    assert.deepEqual(await probeSocket(PATH, { connect: f.connect }), expected);
    assert.ok(f.state.destroyed, "the probe connection is always closed");
  }
});

Deno.test("probe: EACCES, EAGAIN, other errors and silence are unknown, not stale", async () => {
  for (const code of ["EACCES", "EAGAIN", "EPERM", "ETIMEDOUT"]) {
    const f = fake("error", code);
    assert.deepEqual(await probeSocket(PATH, { connect: f.connect }), {
      kind: "unknown",
      reason: code,
    });
  }
  const silent = fake("silent");
  const r = await probeSocket(PATH, { connect: silent.connect, timeoutMs: 1 });
  assert.deepEqual(r, { kind: "unknown", reason: "no answer within 1 ms" });
  assert.ok(silent.state.destroyed);
});

Deno.test("only a stale socket is removed; live and unknown refuse with one clear line", () => {
  assert.equal(staleSocketAction(PATH, { kind: "stale" }), "remove");
  assert.equal(staleSocketAction(PATH, { kind: "gone" }), "none");
  assert.throws(
    () => staleSocketAction(PATH, { kind: "live" }),
    (e) =>
      e instanceof InputError && e.token === "socket_in_use" &&
      e.message === `socket ${PATH}: another agent is already listening there`,
  );
  for (const reason of ["EACCES", "EAGAIN", "no answer within 2000 ms"]) {
    assert.throws(
      () => staleSocketAction(PATH, { kind: "unknown", reason }),
      (e) =>
        e instanceof InputError && e.token === "socket_unknown" &&
        e.message ===
          `socket ${PATH}: cannot tell whether another agent is listening there ` +
            `(connect: ${reason}); refusing to replace it` &&
        !e.message.includes("\n"),
    );
  }
});
