/**
 * The bridge's one call: `InvocationService.Invoke` over the agent's unix
 * socket, gRPC over `node:http2` (one connection, one stream per call,
 * re-opened when it drops). Every outcome is classified for the courier:
 * a SealedResponse, or unavailable / rejected / timeout / internal with an
 * operator-facing detail. The bridge never reads the sealed bytes.
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { brokerErrorInfo, CODE_NAMES, GrpcUnixClient } from "../client/grpc_unix.ts";
import {
  InvocationService,
  SealedRequestSchema,
  SealedResponseSchema,
} from "../wire/basil/broker/v1/broker_pb.ts";
import type { SealedResponse } from "../wire/basil/broker/v1/broker_pb.ts";

/** Why the agent produced no sealed response. */
export type InvokeFailureKind = "unavailable" | "rejected" | "timeout" | "internal";

/** The outcome of one Invoke call. */
export type InvokeOutcome =
  | { readonly ok: true; readonly response: SealedResponse }
  | { readonly ok: false; readonly kind: InvokeFailureKind; readonly detail: string };

/** Something that carries one sealed request to the agent (a fake in unit tests). */
export interface Invoker {
  invoke(message: Uint8Array): Promise<InvokeOutcome>;
  close(): void;
}

/**
 * The courier's class for a non-OK gRPC status (upstream's mapping):
 * UNAVAILABLE → unavailable, DEADLINE_EXCEEDED → timeout, INTERNAL and
 * UNKNOWN → internal, anything else → rejected.
 */
export function classifyStatus(code: number): InvokeFailureKind {
  if (code === 14) return "unavailable";
  if (code === 4) return "timeout";
  if (code === 13 || code === 2) return "internal";
  return "rejected";
}

const PATH = `/${InvocationService.typeName}/${InvocationService.method.invoke.name}`;

/** Invoke over the agent's unix socket. */
export class SocketInvoker implements Invoker {
  readonly #socket: string;
  readonly #timeoutMs: number;
  readonly #client: GrpcUnixClient;

  constructor(socket: string, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#client = new GrpcUnixClient(socket);
  }

  /** Sends one SealedRequest{message}; never throws. */
  async invoke(message: Uint8Array): Promise<InvokeOutcome> {
    const body = toBinary(SealedRequestSchema, create(SealedRequestSchema, { message }));
    const o = await this.#client.call(PATH, body, { timeoutMs: this.#timeoutMs });
    if (!o.ok) {
      if (o.unreachable) {
        return {
          ok: false,
          kind: "unavailable",
          detail: `cannot reach the agent at ${this.#socket}: ${o.message}`,
        };
      }
      const { reason } = brokerErrorInfo(o.details);
      const tag = `${CODE_NAMES[o.code] ?? `Code${o.code}`}${reason ? `/${reason}` : ""}`;
      return {
        ok: false,
        kind: classifyStatus(o.code),
        detail: `agent status [${tag}]: ${o.message}`,
      };
    }
    if (o.messages.length !== 1) {
      return { ok: false, kind: "internal", detail: "the agent sent no usable response message" };
    }
    try {
      return { ok: true, response: fromBinary(SealedResponseSchema, o.messages[0]!) };
    } catch {
      return {
        ok: false,
        kind: "internal",
        detail: "the agent sent an undecodable SealedResponse",
      };
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}
