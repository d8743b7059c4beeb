/**
 * The CLI's gRPC client over the agent's unix socket, driven by the same
 * generated descriptors as the server. Failed calls become `CliError`s in the
 * contract's form `agent status [<Code>/<REASON>]: <message>`, with the
 * reason taken from the BrokerErrorInfo detail; an unreachable agent is
 * `agent status [Unavailable]: cannot reach the agent at <socket>: …`.
 * Unary request bytes (which may hold key material) are zeroed once the
 * call settles.
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethodServerStreaming,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { BrokerErrorInfoSchema } from "../wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../wire/google/rpc/status_pb.ts";
import { CliError } from "./io.ts";

const CODE_NAMES: Record<number, string> = {
  0: "Ok",
  1: "Cancelled",
  2: "Unknown",
  3: "InvalidArgument",
  4: "DeadlineExceeded",
  5: "NotFound",
  6: "AlreadyExists",
  7: "PermissionDenied",
  8: "ResourceExhausted",
  9: "FailedPrecondition",
  10: "Aborted",
  11: "OutOfRange",
  12: "Unimplemented",
  13: "Internal",
  14: "Unavailable",
  15: "DataLoss",
  16: "Unauthenticated",
};

/** A decoded call failure. */
export interface CallFailure {
  readonly code: number;
  readonly codeName: string;
  readonly reason: string | undefined;
  readonly op: string | undefined;
  readonly message: string;
}

/** Decodes a grpc-js error, including BrokerErrorInfo if present. */
export function decodeFailure(e: grpc.ServiceError): CallFailure {
  let reason: string | undefined;
  let op: string | undefined;
  const raw = e.metadata?.get("grpc-status-details-bin")[0];
  if (raw instanceof Uint8Array) {
    try {
      const st = fromBinary(StatusSchema, raw);
      for (const d of st.details) {
        const info = anyUnpack(d, BrokerErrorInfoSchema);
        if (info) {
          reason = info.reason;
          op = info.op;
        }
      }
    } catch { /* no structured detail */ }
  }
  return {
    code: e.code,
    codeName: CODE_NAMES[e.code] ?? `Code${e.code}`,
    reason,
    op,
    message: e.details,
  };
}

/**
 * The CLI error for a failed call. Every failure, an unreachable agent
 * included, reads `agent status [<Code>[/<REASON>]]: …`, so scripts match
 * one pattern.
 */
export function failureError(f: CallFailure, socket: string): CliError {
  const tag = f.reason ? `${f.codeName}/${f.reason}` : f.codeName;
  if (f.code === grpc.status.UNAVAILABLE && f.reason === undefined) {
    return new CliError(`agent status [${tag}]: cannot reach the agent at ${socket}: ${f.message}`);
  }
  return new CliError(`agent status [${tag}]: ${f.message}`);
}

/**
 * A request serialized for grpc-js: a `Buffer` view (no second copy) over
 * the encoded bytes, which may carry key material or plaintext. The caller
 * wipes it once the call has settled.
 */
function encodeRequest<I extends DescMessage>(schema: I, req: MessageInitShape<I>): Buffer {
  const raw = toBinary(schema, create(schema, req));
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

const id = (b: Buffer): Buffer => b;

/** Options for {@linkcode BrokerClient}. */
export interface ClientOptions {
  /** Per-call deadline in ms (default 30 s). */
  timeoutMs?: number;
  /** Extra request metadata (e.g. `workload.spiffe.io: true`). */
  metadata?: Record<string, string>;
}

/** A connection to the agent. */
export class BrokerClient {
  readonly #client: grpc.Client;
  readonly #socket: string;
  readonly #timeoutMs: number;
  readonly #metadata: Record<string, string>;

  constructor(socket: string, options: ClientOptions = {}) {
    this.#socket = socket;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#metadata = options.metadata ?? {};
    this.#client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": -1,
      "grpc.enable_retries": 0,
    });
  }

  #meta(): grpc.Metadata {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.#metadata)) m.set(k, v);
    return m;
  }

  /** One unary call. */
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const path = `/${method.parent.typeName}/${method.name}`;
    const bytes = encodeRequest(method.input, req);
    return new Promise((resolve, reject) => {
      try {
        this.#client.makeUnaryRequest(
          path,
          id,
          id,
          bytes,
          this.#meta(),
          { deadline: Date.now() + this.#timeoutMs },
          (err, res) => {
            bytes.fill(0);
            if (err) reject(failureError(decodeFailure(err), this.#socket));
            else resolve(fromBinary(method.output, res!));
          },
        );
      } catch (e) {
        bytes.fill(0);
        reject(e);
      }
    });
  }

  /** A server-streaming call, collected. */
  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>[]> {
    const path = `/${method.parent.typeName}/${method.name}`;
    // Stream requests (list, watch) carry no secrets; this buffer is not wiped.
    const bytes = encodeRequest(method.input, req);
    return new Promise((resolve, reject) => {
      const out: MessageShape<O>[] = [];
      const call = this.#client.makeServerStreamRequest(path, id, id, bytes, this.#meta(), {
        deadline: Date.now() + this.#timeoutMs,
      });
      call.on("data", (b: Buffer) => out.push(fromBinary(method.output, b)));
      call.on(
        "error",
        (e: grpc.ServiceError) => reject(failureError(decodeFailure(e), this.#socket)),
      );
      call.on("end", () => resolve(out));
    });
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }
}

/** Runs `fn` with a client on `socket`, closing it afterwards. */
export async function withClient<T>(
  socket: string,
  fn: (c: BrokerClient) => Promise<T>,
  options: ClientOptions = {},
): Promise<T> {
  const c = new BrokerClient(socket, options);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
