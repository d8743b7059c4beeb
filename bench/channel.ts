/**
 * One grpc-js connection to a unix socket, kept open, with identity
 * serializers: unary calls on raw bytes or on generated methods (the bench
 * client side of bench/nats.ts and bench/durability.ts).
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";

const id = (b: Buffer): Buffer => b;

/** One grpc-js connection to a unix socket, kept open; unary calls on it. */
export class Channel {
  readonly #client: grpc.Client;
  readonly #md = new grpc.Metadata();

  private constructor(client: grpc.Client) {
    this.#client = client;
  }

  /** Connects and waits until the channel is ready. */
  static async open(socket: string): Promise<Channel> {
    const c = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
    await new Promise<void>((resolve, reject) =>
      c.waitForReady(Date.now() + 10_000, (e) => e ? reject(e) : resolve())
    );
    return new Channel(c);
  }

  /** A call with raw request bytes; resolves to the raw response bytes. */
  raw(path: string, body: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) =>
      this.#client.makeUnaryRequest(
        path,
        id,
        id,
        Buffer.from(body.buffer, body.byteOffset, body.byteLength),
        this.#md,
        (e, v) => e ? reject(new Error(`${path}: ${e.code} ${e.details}`)) : resolve(v!),
      )
    );
  }

  /** A call of a generated method: encoded from `init`, the response decoded. */
  async call<I extends DescMessage, O extends DescMessage>(
    m: DescMethodUnary<I, O>,
    init: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const req = toBinary(m.input, create(m.input, init));
    return fromBinary(m.output, await this.raw(`/${m.parent.typeName}/${m.name}`, req));
  }

  close(): void {
    this.#client.close();
  }
}
