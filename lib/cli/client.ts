/**
 * The CLI's gRPC client over the agent's unix socket, driven by the same
 * generated descriptors as the server (calls through lib/client/grpc_unix.ts).
 * Failed calls become `CliError`s in the contract's form
 * `agent status [<Code>/<REASON>]: <message>`, with the reason taken from
 * the BrokerErrorInfo detail; an unreachable agent is
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
import { brokerErrorInfo, CODE, CODE_NAMES, GrpcUnixClient } from "../client/grpc_unix.ts";
import type { CallOutcome } from "../client/grpc_unix.ts";
import { CliError } from "./io.ts";

/** A decoded call failure. */
export interface CallFailure {
  readonly code: number;
  readonly codeName: string;
  readonly reason: string | undefined;
  readonly op: string | undefined;
  readonly message: string;
  /** The agent was not reached (or ended the call without a status). */
  readonly unreachable: boolean;
}

/**
 * A failure from a gRPC status: `code`, the (percent-decoded) message and
 * the `grpc-status-details-bin` bytes, whose BrokerErrorInfo gives the reason.
 */
export function decodeFailure(
  code: number,
  message: string,
  details?: Uint8Array,
  unreachable = false,
): CallFailure {
  const { reason, op } = brokerErrorInfo(details);
  return { code, codeName: CODE_NAMES[code] ?? `Code${code}`, reason, op, message, unreachable };
}

/**
 * The CLI error for a failed call. Every failure, an unreachable agent
 * included, reads `agent status [<Code>[/<REASON>]]: …`, so scripts match
 * one pattern.
 */
export function failureError(f: CallFailure, socket: string): CliError {
  const tag = f.reason ? `${f.codeName}/${f.reason}` : f.codeName;
  if (f.unreachable) {
    return new CliError(`agent status [${tag}]: cannot reach the agent at ${socket}: ${f.message}`);
  }
  return new CliError(`agent status [${tag}]: ${f.message}`);
}

/** Options for {@linkcode BrokerClient}. */
export interface ClientOptions {
  /** Per-call deadline in ms (default 30 s). */
  timeoutMs?: number;
  /** Extra request metadata (e.g. `workload.spiffe.io: true`). */
  metadata?: Record<string, string>;
}

/** A connection to the agent. */
export class BrokerClient {
  readonly #socket: string;
  readonly #timeoutMs: number;
  readonly #metadata: Record<string, string>;
  readonly #client: GrpcUnixClient;

  constructor(socket: string, options: ClientOptions = {}) {
    this.#socket = socket;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#metadata = options.metadata ?? {};
    this.#client = new GrpcUnixClient(socket);
  }

  #call(path: string, body: Uint8Array, onMessage?: (m: Uint8Array) => void): Promise<CallOutcome> {
    return this.#client.call(path, body, {
      timeoutMs: this.#timeoutMs,
      metadata: this.#metadata,
      onMessage,
    });
  }

  #error(o: CallOutcome & { ok: false }): CliError {
    return failureError(decodeFailure(o.code, o.message, o.details, o.unreachable), this.#socket);
  }

  /** One unary call. */
  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const path = `/${method.parent.typeName}/${method.name}`;
    const bytes = toBinary(method.input, create(method.input, req));
    let o: CallOutcome;
    try {
      o = await this.#call(path, bytes);
    } finally {
      bytes.fill(0);
    }
    if (!o.ok) throw this.#error(o);
    if (o.messages.length !== 1) {
      for (const m of o.messages) m.fill(0);
      throw failureError(
        decodeFailure(CODE.INTERNAL, "expected one response message"),
        this.#socket,
      );
    }
    // Not wiped here: bytes fields of the message are views into it (the
    // command wipes the value it printed).
    return fromBinary(method.output, o.messages[0]!);
  }

  /** A server-streaming call, collected. */
  async stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    req: MessageInitShape<I>,
  ): Promise<MessageShape<O>[]> {
    const path = `/${method.parent.typeName}/${method.name}`;
    // Stream requests (list, watch) carry no secrets; this buffer is not wiped.
    const bytes = toBinary(method.input, create(method.input, req));
    const out: MessageShape<O>[] = [];
    const o = await this.#call(path, bytes, (m) => out.push(fromBinary(method.output, m)));
    if (!o.ok) throw this.#error(o);
    return out;
  }

  /** Closes the connection. */
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
