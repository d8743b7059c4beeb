/**
 * The one table that maps broker errors to gRPC statuses (contract §4.4).
 * Every failed RPC carries `grpc-status-details-bin` = google.rpc.Status
 * whose single detail is `Any(BrokerErrorInfo{reason, op})`, except for the
 * SPIFFE/SDS services, which answer with plain statuses. Anything that is not
 * a `BasilError` becomes INTERNAL "internal error"; its detail, logged only,
 * names the error's class and never quotes a foreign error's message (backend
 * and parser messages can echo request or secret bytes).
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { BasilError, InputError } from "../core/errors.ts";
import type { BasilErrorCode } from "../core/errors.ts";
import { BrokerErrorInfoSchema } from "../wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../wire/google/rpc/status_pb.ts";
import { GRPC_STATUS, StatusError } from "./grpc_wire.ts";
import type { GrpcStatusCode } from "./grpc_wire.ts";

/** Broker reason → gRPC status code. */
export const STATUS_TABLE: Readonly<Record<BasilErrorCode, GrpcStatusCode>> = {
  UNAUTHENTICATED: GRPC_STATUS.UNAUTHENTICATED,
  UNAUTHORIZED: GRPC_STATUS.PERMISSION_DENIED,
  INVALID_REQUEST: GRPC_STATUS.INVALID_ARGUMENT,
  INVALID_ARGUMENT: GRPC_STATUS.INVALID_ARGUMENT,
  DECRYPT_FAILED: GRPC_STATUS.INVALID_ARGUMENT,
  PAYLOAD_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  UNSUPPORTED: GRPC_STATUS.UNIMPLEMENTED,
  UNSUPPORTED_ALGORITHM: GRPC_STATUS.UNIMPLEMENTED,
  BACKEND_UNAVAILABLE: GRPC_STATUS.UNAVAILABLE,
  BACKEND_ERROR: GRPC_STATUS.INTERNAL,
  INTERNAL: GRPC_STATUS.INTERNAL,
  NO_REVOCATION_STORE: GRPC_STATUS.FAILED_PRECONDITION,
  INVOCATION_DISABLED: GRPC_STATUS.FAILED_PRECONDITION,
  FAILED_PRECONDITION: GRPC_STATUS.FAILED_PRECONDITION,
  DATA_LOSS: GRPC_STATUS.DATA_LOSS,
  RATE_LIMITED: GRPC_STATUS.RESOURCE_EXHAUSTED,
};

/**
 * The log detail for a foreign error: our own `InputError` messages are
 * written to be safe (file, field, reason); anything else shows only its
 * class name, never its message or stack.
 */
function foreignDetail(e: unknown): string {
  if (e instanceof InputError) return `${e.name}(${e.token}): ${e.message}`;
  if (e instanceof Error) return `unexpected ${e.name} (message withheld)`;
  return "unexpected non-error thrown";
}

/** Coerces anything thrown by a handler into a `BasilError`. */
export function asBasilError(e: unknown, op: string): BasilError {
  if (e instanceof BasilError) return e.withOp(op);
  return new BasilError("INTERNAL", undefined, { op, detail: foreignDetail(e), cause: e });
}

/**
 * The status a broker error is answered with. Broker services carry
 * `google.rpc.Status{code, message, [Any(BrokerErrorInfo)]}` as details;
 * `plain` services (SPIFFE, SDS) carry none.
 */
export function toStatusError(err: BasilError, plain: boolean): StatusError {
  const code = STATUS_TABLE[err.code];
  if (plain) return new StatusError(code, err.message);
  const info = create(BrokerErrorInfoSchema, { reason: err.code, op: err.op ?? "" });
  const status = create(StatusSchema, {
    code,
    message: err.message,
    details: [anyPack(BrokerErrorInfoSchema, info)],
  });
  return new StatusError(code, err.message, toBinary(StatusSchema, status));
}
