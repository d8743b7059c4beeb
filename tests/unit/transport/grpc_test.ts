/**
 * The service adapter (lib/transport/grpc.ts): a unary method answers with
 * the encoded response and runs the handler's deferred cleanups (which wipe
 * the secret the response object held); a foreign error becomes INTERNAL
 * "internal error" and its message never reaches the log; a malformed
 * request is INVALID_ARGUMENT with BrokerErrorInfo.
 */

import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { utf8 } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { jsonLogger } from "../../../lib/core/log.ts";
import { secretService } from "../../../lib/service/secret_service.ts";
import { bindService } from "../../../lib/service/types.ts";
import { methodsOf } from "../../../lib/transport/grpc.ts";
import { NO_MESSAGES } from "../../../lib/transport/grpc_call.ts";
import type { GrpcCall } from "../../../lib/transport/grpc_call.ts";
import { GRPC_STATUS, StatusError } from "../../../lib/transport/grpc_wire.ts";
import { asBasilError } from "../../../lib/transport/status.ts";
import {
  AdminService,
  BrokerErrorInfoSchema,
  GetSecretRequestSchema,
  GetSecretResponseSchema,
} from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../../../lib/wire/google/rpc/status_pb.ts";
import { PEER, withBroker } from "../broker/helpers.ts";

function call(path: string, request: Uint8Array): GrpcCall {
  return {
    path,
    request,
    messages: NO_MESSAGES,
    peer: PEER,
    signal: new AbortController().signal,
    metadata: () => [],
    setHeader: () => {},
    setTrailer: () => {},
    send: () => Promise.reject(new Error("not streaming")),
  };
}

const quiet = jsonLogger({ write: () => {} });

Deno.test("unary: the method answers with the encoded response message", async () => {
  await withBroker(async (b) => {
    await b.backend.kv.write("app/value", utf8("s3cret-value"));
    const methods = methodsOf([secretService(b.deps)], quiet);
    const m = methods.get("/basil.broker.v1.SecretService/GetSecret")!;
    const req = toBinary(
      GetSecretRequestSchema,
      create(GetSecretRequestSchema, { secretId: "app.value" }),
    );
    const out = await m.serve(call("/basil.broker.v1.SecretService/GetSecret", req));
    assert.ok(out instanceof Uint8Array);
    assert.deepEqual(fromBinary(GetSecretResponseSchema, out).value, utf8("s3cret-value"));
  });
});

Deno.test("errors: a malformed request is INVALID_ARGUMENT with BrokerErrorInfo", async () => {
  await withBroker(async (b) => {
    const m = methodsOf([secretService(b.deps)], quiet)
      .get("/basil.broker.v1.SecretService/GetSecret")!;
    const e = await m.serve(call("/x", Uint8Array.of(0xff, 0xff, 0xff))).then(
      () => undefined,
      (x) => x,
    );
    assert.ok(e instanceof StatusError);
    assert.equal(e.code, GRPC_STATUS.INVALID_ARGUMENT);
    const st = fromBinary(StatusSchema, e.details!);
    const info = anyUnpack(st.details[0]!, BrokerErrorInfoSchema);
    assert.equal(info?.reason, "INVALID_REQUEST");
    assert.equal(info?.op, "get_secret");
  });
});

Deno.test("errors: a foreign error's message is withheld from the log; our typed ones are kept", async () => {
  const lines: string[] = [];
  const logger = jsonLogger({ write: (l) => lines.push(l) });
  const binding = bindService(AdminService, {
    status: () => Promise.reject(new SyntaxError('Unexpected token "hunter2" in JSON')),
  } as never);
  const methods = methodsOf(
    [{ ...binding, service: { ...AdminService, methods: [AdminService.method.status] } as never }],
    logger,
  );
  const e = await methods.get("/basil.broker.v1.AdminService/Status")!.serve(
    call("/basil.broker.v1.AdminService/Status", new Uint8Array()),
  ).then(() => undefined, (x) => x);
  assert.ok(e instanceof StatusError);
  assert.equal(e.code, GRPC_STATUS.INTERNAL);
  assert.equal(e.message, "internal error");
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!, /hunter2/);
  assert.match(lines[0]!, /SyntaxError/);
  assert.equal(JSON.parse(lines[0]!).level, "error");

  const x = asBasilError(new TypeError("secret bytes 0xdeadbeef"), "get");
  assert.equal(x.code, "INTERNAL");
  assert.equal(x.message, "internal error");
  assert.doesNotMatch(x.detail!, /deadbeef/);
  const typed = asBasilError(
    new InputError("config_invalid", "config.toml: socket: bad"),
    "reload",
  );
  assert.match(typed.detail!, /config\.toml: socket: bad/);
});
