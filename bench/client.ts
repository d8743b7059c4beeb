// deno-lint-ignore-file no-console
/**
 * Bench client process (grpc-js, one channel = one connection, identity
 * serializers, pre-encoded request bytes, responses not decoded), so the
 * broker and the echo floor see exactly the same client work.
 *
 *   measure <socket> <path> <reqHex> <conc> <warmMs> <runMs>
 *       c workers on the one channel, back-to-back calls; prints one JSON
 *       summary line (h.ts) including the response size.
 *   load <socket> <path> <reqHex> <conc> <calls>
 *       `calls` calls in all, then prints `{"done":n}` and keeps the
 *       connection open until stdin closes (for RSS sampling).
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { benchConc } from "./h.ts";

const [mode, sock, path, reqHex, concS, a5, a6] = Deno.args;
if (!mode || !sock || !path || reqHex === undefined || !concS) {
  console.error("usage: client.ts measure|load <socket> <path> <reqHex> <conc> ...");
  Deno.exit(2);
}
const conc = Number(concS);
const req = Buffer.from(reqHex, "hex");
const id = (x: Buffer): Buffer => x;
const client = new grpc.Client(`unix:${sock}`, grpc.credentials.createInsecure());
await new Promise<void>((resolve, reject) =>
  client.waitForReady(Date.now() + 10_000, (e) => e ? reject(e) : resolve())
);
const call = () =>
  new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(path, id, id, req, (e, v) => e ? reject(e) : resolve(v!))
  );
const first = await call();

if (mode === "measure") {
  const r = await benchConc(path, call, conc, {
    warmMs: Number(a5 ?? 1000),
    runMs: Number(a6 ?? 3000),
    extra: { req_bytes: req.length, resp_bytes: first.length },
  });
  console.log(JSON.stringify(r));
  client.close();
} else if (mode === "load") {
  const total = Number(a5 ?? 20000);
  let issued = 1;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (issued < total) {
      issued++;
      await call();
    }
  }));
  console.log(JSON.stringify({ done: issued }));
  // Hold the connection until the driver has sampled the server.
  for await (const _ of Deno.stdin.readable) { /* until EOF */ }
  client.close();
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
