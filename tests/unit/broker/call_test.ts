/**
 * The request's audit trail (lib/broker/call.ts): decisions are written once,
 * when the request settles, with the request's real outcome; streams settle
 * before their first message; nothing is delivered without its record.
 */

import assert from "node:assert/strict";
import { recordDecision, resolveCaller } from "../../../lib/broker/authorize.ts";
import { runCall, runStream } from "../../../lib/broker/call.ts";
import type { BrokerCall } from "../../../lib/broker/call.ts";
import type { BrokerDeps } from "../../../lib/broker/deps.ts";
import { BasilError, decryptFailed, invalidRequest } from "../../../lib/core/errors.ts";
import { PEER, rejectsWith, withBroker } from "./helpers.ts";

const live = () => new AbortController().signal;

function allowGet(deps: BrokerDeps, call: BrokerCall, options = {}): void {
  recordDecision(deps, resolveCaller(deps, call), "get", "app.value", true, "subject:app", options);
}

Deno.test("unary: nothing is written until the call settles, then one record with the outcome", async () => {
  await withBroker(async (b) => {
    const got = await runCall(b.deps, PEER, live(), (call) => {
      allowGet(b.deps, call);
      assert.equal(b.sink.records.length, 0, "pending while the operation runs");
      return Promise.resolve(42);
    });
    assert.equal(got, 42);
    assert.deepEqual(b.sink.records.map((r) => [r.decision, r.outcome]), [["allow", "allow"]]);
  });
});

Deno.test("unary: each failure class is recorded; a denial stays deny; foreign errors are internal", async () => {
  await withBroker(async (b) => {
    const cases: [unknown, string, object?][] = [
      [decryptFailed("decrypt"), "decrypt_failed"],
      [invalidRequest("bad"), "invalid_request"],
      [invalidRequest("bad"), "validation_failed", { invalidAs: "validation_failed" }],
      [new BasilError("PAYLOAD_TOO_LARGE"), "payload_too_large"],
      [new BasilError("BACKEND_ERROR"), "backend_error"],
      [new BasilError("BACKEND_UNAVAILABLE"), "backend_unavailable"],
      [new BasilError("UNSUPPORTED"), "unsupported"],
      [new BasilError("UNSUPPORTED_ALGORITHM"), "unsupported"],
      [new BasilError("NO_REVOCATION_STORE"), "failed_precondition"],
      [new BasilError("FAILED_PRECONDITION"), "failed_precondition"],
      [new BasilError("INTERNAL"), "internal_error"],
      [new BasilError("UNAUTHORIZED"), "deny"],
      [new TypeError("oops"), "internal_error"],
      [new DOMException("gone", "AbortError"), "cancelled"],
    ];
    for (const [error, outcome, options] of cases) {
      b.sink.records.length = 0;
      await assert.rejects(runCall(b.deps, PEER, live(), (call) => {
        allowGet(b.deps, call, options);
        return Promise.reject(error);
      }));
      assert.deepEqual(b.sink.records.map((r) => r.outcome), [outcome], String(error));
    }
    // A client that left: a foreign failure is `cancelled`, a broker error keeps its class.
    const gone = new AbortController();
    gone.abort();
    for (
      const [error, outcome] of [[new TypeError("x"), "cancelled"], [
        decryptFailed("d"),
        "decrypt_failed",
      ]] as const
    ) {
      b.sink.records.length = 0;
      await assert.rejects(runCall(b.deps, PEER, gone.signal, (call) => {
        allowGet(b.deps, call);
        return Promise.reject(error);
      }));
      assert.deepEqual(b.sink.records.map((r) => r.outcome), [outcome]);
    }
  });
});

Deno.test("unary: an unwritable record withholds the result (INTERNAL)", async () => {
  await withBroker(async (b) => {
    b.sink.failing = true;
    let ran = false;
    await rejectsWith(
      runCall(b.deps, PEER, live(), (call) => {
        allowGet(b.deps, call);
        ran = true;
        return Promise.resolve("secret");
      }),
      "INTERNAL",
    );
    assert.ok(ran);
    assert.equal(b.sink.failures, 1);
  });
});

Deno.test("stream: settles before the first message; later failures write nothing more", async () => {
  await withBroker(async (b) => {
    const seen: string[] = [];
    const send = (m: string) => {
      seen.push(`${m}@${b.sink.records.length}`);
      return Promise.resolve();
    };
    await assert.rejects(
      runStream(b.deps, PEER, live(), send, async (call, s) => {
        allowGet(b.deps, call);
        await s("one");
        await s("two");
        throw new BasilError("DATA_LOSS");
      }),
    );
    assert.deepEqual(seen, ["one@1", "two@1"], "the record was written before the first message");
    assert.deepEqual(b.sink.records.map((r) => r.outcome), ["allow"]);
  });
});

Deno.test("stream: a failure before the first message records its class; an empty stream is allow", async () => {
  await withBroker(async (b) => {
    const send = () => Promise.resolve();
    await assert.rejects(runStream(b.deps, PEER, live(), send, (call) => {
      allowGet(b.deps, call);
      return Promise.reject(new BasilError("FAILED_PRECONDITION"));
    }));
    await runStream(b.deps, PEER, live(), send, (call) => {
      allowGet(b.deps, call);
      return Promise.resolve();
    });
    const gone = new AbortController();
    gone.abort();
    await runStream(b.deps, PEER, gone.signal, send, (call) => {
      allowGet(b.deps, call);
      return Promise.resolve();
    });
    // Cancelled before the first message: the send refuses, and says so.
    await assert.rejects(
      runStream(b.deps, PEER, gone.signal, send, async (call, s) => {
        allowGet(b.deps, call);
        await s("x");
      }),
      (e: unknown) => e instanceof DOMException && e.name === "AbortError",
    );
    assert.deepEqual(
      b.sink.records.map((r) => r.outcome),
      ["failed_precondition", "allow", "cancelled", "cancelled"],
    );
  });
});

Deno.test("stream: an unwritable record sends nothing and fails the stream", async () => {
  await withBroker(async (b) => {
    b.sink.failing = true;
    const seen: string[] = [];
    await rejectsWith(
      runStream(b.deps, PEER, live(), (m: string) => {
        seen.push(m);
        return Promise.resolve();
      }, async (call, s) => {
        allowGet(b.deps, call);
        await s("secret");
      }),
      "INTERNAL",
    );
    assert.deepEqual(seen, []);
  });
});

Deno.test("stream: established() settles a silent stream at once; not for unary calls", async () => {
  await withBroker(async (b) => {
    await runStream(b.deps, PEER, live(), () => Promise.resolve(), (call) => {
      allowGet(b.deps, call);
      call.established();
      assert.equal(b.sink.records.length, 1, "written while the stream is still open");
      return Promise.resolve();
    });
    assert.equal(b.sink.records.length, 1);
    await assert.rejects(
      runCall(b.deps, PEER, live(), (call) => Promise.resolve(call.established())),
      TypeError,
    );
  });
});

Deno.test("a decision after the call settled is refused (INTERNAL), never written late", async () => {
  await withBroker(async (b) => {
    await assert.rejects(
      runStream(b.deps, PEER, live(), () => Promise.resolve(), async (call, s) => {
        allowGet(b.deps, call);
        await s("first");
        allowGet(b.deps, call);
      }),
      (e: unknown) => e instanceof BasilError && e.code === "INTERNAL",
    );
    assert.equal(b.sink.records.length, 1);
  });
});
