// deno-lint-ignore-file no-console
/**
 * Short-connection client: `n` connections, each carrying exactly one
 * unary gRPC call and then closed, as every CLI call is one connection.
 * Hand-built HTTP/2 (tests/helpers/h2_frames.ts: literal HPACK, no
 * Huffman) over `node:net`, so the client itself allocates nothing per
 * connection that could slow it down over 50,000 of them.
 *
 * Per connection: the preface, an empty SETTINGS, the request HEADERS and
 * one DATA frame (END_STREAM) in one write; the server's SETTINGS are
 * acknowledged; the call counts as OK once a response message of the
 * expected size arrived and the trailers ended the stream (a failed call is
 * trailers-only, with no message). Then GOAWAY (NO_ERROR) and a FIN, as a
 * gRPC client closing its channel.
 *
 *   conns_client.ts <socket> <path> <reqHex> <respBytes> <n> <parallel>
 *
 * Prints one JSON line: `{"n","ok","failed","ms","conns_s","errors"}`.
 * @module
 */

import { Buffer } from "node:buffer";
import net from "node:net";
import {
  F,
  frame,
  grpcMessage,
  grpcRequest,
  hpack,
  PREFACE,
  settings,
  T,
} from "../tests/helpers/h2_frames.ts";

const [sock, path, reqHex, respS, nS, parS] = Deno.args;
if (!sock || !path || reqHex === undefined || !respS || !nS || !parS) {
  console.error("usage: conns_client.ts <socket> <path> <reqHex> <respBytes> <n> <parallel>");
  Deno.exit(2);
}
const respBytes = Number(respS);
const total = Number(nS);
const parallel = Math.max(1, Number(parS));
const GOAWAY = 7;
const goaway = (() => {
  const p = new Uint8Array(8); // last stream 0, NO_ERROR
  return frame(GOAWAY, 0, 0, p);
})();
const hello = Buffer.concat([
  PREFACE,
  settings([]),
  frame(T.HEADERS, F.END_HEADERS, 1, hpack(grpcRequest(path))),
  frame(T.DATA, F.END_STREAM, 1, grpcMessage(Buffer.from(reqHex, "hex"))),
]);
const settingsAck = frame(T.SETTINGS, F.ACK, 0);
const errors = new Map<string, number>();
const fail = (why: string) => errors.set(why, (errors.get(why) ?? 0) + 1);

/** One connection, one call; resolves true when the call succeeded. */
function once(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(sock!);
    let buf: Buffer = Buffer.alloc(0);
    let message = -1;
    let settled = false;
    const done = (ok: boolean, why?: string) => {
      if (settled) return;
      settled = true;
      if (!ok) fail(why ?? "unknown");
      if (ok) s.end(goaway);
      else s.destroy();
      resolve(ok);
    };
    s.on("error", (e: Error & { code?: string }) => done(false, e.code ?? e.message));
    s.on("close", () => done(false, "closed before the answer"));
    s.on("connect", () => s.write(hello));
    s.on("data", (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!, flags = buf[4]!, stream = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === T.SETTINGS && !(flags & F.ACK)) s.write(settingsAck);
        else if (type === T.DATA && stream === 1) message = Math.max(message, 0) + len;
        else if (type === T.RST_STREAM && stream === 1) return done(false, "RST_STREAM");
        else if (type === GOAWAY) return done(false, "GOAWAY");
        if (type === T.HEADERS && stream === 1 && flags & F.END_STREAM) {
          return message === 5 + respBytes
            ? done(true)
            : done(false, message < 0 ? "trailers-only (an error status)" : `message ${message} B`);
        }
      }
    });
  });
}

let issued = 0;
let ok = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: parallel }, async () => {
  while (issued < total) {
    issued++;
    if (await once()) ok++;
  }
}));
const ms = performance.now() - t0;
console.log(JSON.stringify({
  n: total,
  ok,
  failed: total - ok,
  ms: Math.round(ms),
  conns_s: Math.round(total / (ms / 1000)),
  errors: Object.fromEntries(errors),
}));
