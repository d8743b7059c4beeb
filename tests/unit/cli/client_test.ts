/**
 * Call failures print one form, `agent status [<Code>[/<REASON>]]: …`, an
 * unreachable agent included, so scripts can match a single pattern.
 */

import assert from "node:assert/strict";
import { BrokerClient, failureError } from "../../../lib/cli/client.ts";
import { CliError } from "../../../lib/cli/io.ts";
import { AdminService } from "../../../lib/wire/basil/broker/v1/broker_pb.ts";

const TAG = /^agent status \[(\w+)(?:\/(\w+))?\]: /;

Deno.test("an unreachable agent carries the [Unavailable] tag and the socket", () => {
  const e = failureError(
    {
      code: 14,
      codeName: "Unavailable",
      reason: undefined,
      op: undefined,
      message: "No connection established",
      unreachable: true,
    },
    "/run/basil/basil.sock",
  );
  assert.equal(
    e.message,
    "agent status [Unavailable]: cannot reach the agent at /run/basil/basil.sock: No connection established",
  );
  assert.match(e.message, TAG);
});

Deno.test("broker errors keep their <Code>/<REASON> tag", () => {
  const e = failureError(
    {
      code: 7,
      codeName: "PermissionDenied",
      reason: "UNAUTHORIZED",
      op: "get",
      message: "not authorized",
      unreachable: false,
    },
    "/s",
  );
  assert.equal(e.message, "agent status [PermissionDenied/UNAUTHORIZED]: not authorized");
  const u = failureError(
    {
      code: 14,
      codeName: "Unavailable",
      reason: "BACKEND_UNAVAILABLE",
      op: "get",
      message: "down",
      unreachable: false,
    },
    "/s",
  );
  assert.equal(u.message, "agent status [Unavailable/BACKEND_UNAVAILABLE]: down");
});

Deno.test("a real call to a missing socket fails with the tagged message", async () => {
  const socket = `/nonexistent-basil-dir/${crypto.randomUUID()}.sock`;
  const c = new BrokerClient(socket, { timeoutMs: 5_000 });
  try {
    await assert.rejects(
      () => c.unary(AdminService.method.health, {}),
      (e: unknown) => {
        assert.ok(e instanceof CliError);
        assert.match(e.message, /^agent status \[Unavailable\]: cannot reach the agent at /);
        assert.ok(e.message.includes(socket));
        return true;
      },
    );
  } finally {
    c.close();
  }
});
