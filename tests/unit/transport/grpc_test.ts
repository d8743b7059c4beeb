/**
 * The grpc-js adapter: a unary response buffer is zeroed once grpc-js has
 * taken its copy (inside the callback), and a foreign error's message never
 * reaches the log.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { getSecret } from "../../../lib/broker/secrets.ts";
import { utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { jsonLogger } from "../../../lib/core/log.ts";
import { secretService } from "../../../lib/service/secret_service.ts";
import { bindService } from "../../../lib/service/types.ts";
import { encodePeer, toGrpcService } from "../../../lib/transport/grpc.ts";
import { asBasilError } from "../../../lib/transport/status.ts";
import {
  AdminService,
  GetSecretRequestSchema,
  GetSecretResponseSchema,
} from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import { PEER, withBroker } from "../broker/helpers.ts";

type UnaryImpl = (call: unknown, cb: (e: unknown, v?: Buffer) => void) => void;

function callUnary(impl: UnaryImpl, request: Uint8Array) {
  return new Promise<{ atCallback?: Uint8Array; buffer?: Buffer; error?: unknown }>((resolve) => {
    const call = {
      request: Buffer.from(request),
      getPeer: () => encodePeer(PEER),
      metadata: { get: () => [] },
      once: () => call,
    };
    impl(call, (error, v) => {
      // What grpc-js does inside the callback: copy the bytes (serializeMessage).
      const atCallback = v ? new Uint8Array(v) : undefined;
      queueMicrotask(() => resolve({ atCallback, buffer: v, error }));
    });
  });
}

Deno.test("unary: the serialized response holding a secret is zeroed after the callback", async () => {
  await withBroker(async (b) => {
    await b.backend.kv.write("app/value", utf8("s3cret-value"));
    const svc = toGrpcService(secretService(b.deps), jsonLogger({ write: () => {} }));
    const impl = svc.implementation.getSecret as unknown as UnaryImpl;
    const req = toBinary(
      GetSecretRequestSchema,
      create(GetSecretRequestSchema, { secretId: "app.value" }),
    );
    const r = await callUnary(impl, req);
    assert.equal(r.error, null);
    const res = fromBinary(GetSecretResponseSchema, r.atCallback!);
    assert.deepEqual(res.value, utf8("s3cret-value"), "grpc-js saw the full response");
    assert.ok(r.buffer!.length > 0 && r.buffer!.every((x) => x === 0), "our buffer was zeroed");
    // The broker path is unaffected.
    const again = await getSecret(b.deps, PEER, "app.value", undefined);
    again.value.wipe();
  });
});

Deno.test("errors: a foreign error's message is withheld from the log; our typed ones are kept", async () => {
  const lines: string[] = [];
  const logger = jsonLogger({ write: (l) => lines.push(l) });
  const binding = bindService(AdminService, {
    status: () => Promise.reject(new SyntaxError('Unexpected token "hunter2" in JSON')),
  } as never);
  const impl = toGrpcService(
    { ...binding, service: { ...AdminService, methods: [AdminService.method.status] } as never },
    logger,
  ).implementation.status as unknown as UnaryImpl;
  const r = await callUnary(impl, new Uint8Array());
  assert.ok(r.error);
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!, /hunter2/);
  assert.match(lines[0]!, /SyntaxError/);
  assert.equal(JSON.parse(lines[0]!).level, "error");

  const e = asBasilError(new TypeError("secret bytes 0xdeadbeef"), "get");
  assert.equal(e.code, "INTERNAL");
  assert.equal(e.message, "internal error");
  assert.doesNotMatch(e.detail!, /deadbeef/);
  const typed = asBasilError(
    new InputError("config_invalid", "config.toml: socket: bad"),
    "reload",
  );
  assert.match(typed.detail!, /config\.toml: socket: bad/);
});
