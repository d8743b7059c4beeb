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
import * as grpc from "@grpc/grpc-js";
import { BasilError, InputError } from "../core/errors.ts";
import type { BasilErrorCode } from "../core/errors.ts";
import { BrokerErrorInfoSchema } from "../wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../wire/google/rpc/status_pb.ts";

/** Broker reason → gRPC status code. */
export const STATUS_TABLE: Readonly<Record<BasilErrorCode, grpc.status>> = {
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  UNAUTHORIZED: grpc.status.PERMISSION_DENIED,
  INVALID_REQUEST: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  DECRYPT_FAILED: grpc.status.INVALID_ARGUMENT,
  PAYLOAD_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  UNSUPPORTED: grpc.status.UNIMPLEMENTED,
  UNSUPPORTED_ALGORITHM: grpc.status.UNIMPLEMENTED,
  BACKEND_UNAVAILABLE: grpc.status.UNAVAILABLE,
  BACKEND_ERROR: grpc.status.INTERNAL,
  INTERNAL: grpc.status.INTERNAL,
  NO_REVOCATION_STORE: grpc.status.FAILED_PRECONDITION,
  INVOCATION_DISABLED: grpc.status.FAILED_PRECONDITION,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  DATA_LOSS: grpc.status.DATA_LOSS,
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

/** The grpc-js error object for a broker error. */
export function toServiceError(
  err: BasilError,
  plain: boolean,
): Partial<grpc.StatusObject> & { code: grpc.status } {
  const code = STATUS_TABLE[err.code];
  const metadata = new grpc.Metadata();
  if (!plain) {
    const info = create(BrokerErrorInfoSchema, { reason: err.code, op: err.op ?? "" });
    const status = create(StatusSchema, {
      code,
      message: err.message,
      details: [anyPack(BrokerErrorInfoSchema, info)],
    });
    metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  }
  return { code, details: err.message, metadata };
}
