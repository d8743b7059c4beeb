/** Raw gRPC calls with hand-made request bytes, for malformed-input tests. */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { BrokerErrorInfoSchema } from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { StatusSchema } from "../../lib/wire/google/rpc/status_pb.ts";

/** A call's outcome: status name, details, BrokerErrorInfo and raw details bytes. */
export interface RawOutcome {
  code: string;
  details: string;
  reason?: string;
  op?: string;
  detailsBin?: Uint8Array;
  response?: Uint8Array;
}

const id = (b: Buffer) => b;

/** One unary call with raw request bytes. */
export function rawUnary(
  socket: string,
  path: string,
  body: Uint8Array,
  metadata: Record<string, string> = {},
): Promise<RawOutcome> {
  const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
  });
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, id, id, Buffer.from(body), md, {
      deadline: Date.now() + 30_000,
    }, (err, res) => {
      client.close();
      if (!err) return resolve({ code: "OK", details: "", response: res });
      const out: RawOutcome = {
        code: grpc.status[err.code] ?? String(err.code),
        details: err.details,
      };
      const bin = err.metadata?.get("grpc-status-details-bin")[0];
      if (bin instanceof Uint8Array) {
        out.detailsBin = new Uint8Array(bin);
        const st = fromBinary(StatusSchema, bin);
        for (const d of st.details) {
          const info = anyUnpack(d, BrokerErrorInfoSchema);
          if (info) {
            out.reason = info.reason;
            out.op = info.op;
          }
        }
      }
      resolve(out);
    });
  });
}

/** The outcome of {@linkcode rawCall}: on OK, `message` is the decoded response. */
export interface TypedOutcome<O extends DescMessage> extends RawOutcome {
  message?: MessageShape<O>;
}

/** One unary call of a generated method, built from `init` and decoded on OK. */
export async function rawCall<I extends DescMessage, O extends DescMessage>(
  socket: string,
  method: DescMethodUnary<I, O>,
  init: MessageInitShape<I>,
  metadata: Record<string, string> = {},
): Promise<TypedOutcome<O>> {
  const out: TypedOutcome<O> = await rawUnary(
    socket,
    `/${method.parent.typeName}/${method.name}`,
    toBinary(method.input, create(method.input, init)),
    metadata,
  );
  if (out.response) out.message = fromBinary(method.output, out.response);
  return out;
}
