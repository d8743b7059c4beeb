/**
 * The broker's gRPC transport (libnghttp2 through FFI) with three
 * independent clients: python3-grpcio (C-core), grpc-go (Debian's grpc
 * 1.33) and grpc-js. Each does unary and server-streaming calls, a deadline
 * the server enforces, an error with `grpc-status-details-bin`, and metadata
 * in and out, against the echo service of bench/h2_echo.ts; plus the caps,
 * compression refusal, cancellation, trailers-only answers and a graceful
 * GOAWAY. The broker's own services ride the same transport in every other
 * e2e test.
 */

import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import net from "node:net";
import { goEchoClient, startEcho } from "../helpers/echo.ts";
import { F, frame, PREFACE, RawH2, settings, T } from "../helpers/h2_frames.ts";
import type { EchoServer } from "../helpers/echo.ts";
import { needs } from "../helpers/peers.ts";
import { PYTHON, pythonStubs } from "../helpers/python.ts";
import { ROOT } from "../helpers/cli.ts";
import { echoMethods } from "../../bench/h2_echo.ts";
import { findLibrary, LIBC_CANDIDATES, LIBNGHTTP2_CANDIDATES } from "../../ffi/_dlopen.ts";
import { Libc } from "../../ffi/libc.ts";
import { Nghttp2 } from "../../ffi/nghttp2.ts";
import { nullLogger } from "../../lib/core/log.ts";
import { ENGINE_LIMITS } from "../../lib/transport/limits.ts";
import { BrokerServer } from "../../lib/transport/server.ts";

/** What the python and Go clients report (the same checks). */
function checkClientReport(r: Record<string, unknown>, from: string): void {
  assert.equal(r.unary, `hello from ${from}`);
  assert.deepEqual(r.header, [from === "python" ? "py" : from]);
  assert.deepEqual(r.trailer, [from === "python" ? "py" : from]);
  assert.equal(r.stream_messages, 300);
  assert.equal(r.stream_bytes, 300 * 65536);
  assert.match(String(r.deadline), /^(DEADLINE_EXCEEDED|DeadlineExceeded)$/);
  assert.match(String(r.fail_code), /^(NOT_FOUND|NotFound)$/);
  assert.equal(r.fail_message, "echo failure");
  assert.equal(r.fail_detail_type, "type.googleapis.com/bench.Echo");
  assert.equal(r.fail_detail_value, "05010203");
  assert.match(String(r.unknown), /^(UNIMPLEMENTED|Unimplemented)$/);
}

async function withEcho(fn: (e: EchoServer) => Promise<void>): Promise<void> {
  const e = await startEcho();
  try {
    await fn(e);
  } finally {
    await e.stop();
  }
}

Deno.test({
  name: "python3-grpcio: unary, streaming, deadline, error details, metadata, caps",
  ...needs(PYTHON, "protoc"),
  fn: () =>
    withEcho(async (e) => {
      const out = await new Deno.Command(PYTHON, {
        args: [`${ROOT}/tests/fixtures/py/echo_client.py`, await pythonStubs(), e.socket],
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      checkClientReport(r, "python");
      assert.equal(r.too_large, "RESOURCE_EXHAUSTED");
      assert.equal(r.compressed, "UNIMPLEMENTED");
      assert.equal(r.big_echo, 3 * 1024 * 1024);
    }),
});

Deno.test({
  name: "grpc-go (Debian grpc 1.33): unary, streaming, deadline, error details, metadata",
  ...needs("go"),
  fn: () =>
    withEcho(async (e) => {
      const bin = await goEchoClient();
      const out = await new Deno.Command(bin, { args: [e.socket] }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      checkClientReport(r, "go");
      assert.equal(r.stream_end, "EOF");
    }),
});

const id = (b: Buffer) => b;

function unary(
  c: grpc.Client,
  path: string,
  req: Uint8Array,
  o: { meta?: grpc.Metadata; deadlineMs?: number } = {},
): Promise<
  { err: grpc.ServiceError | null; res?: Buffer; headers?: grpc.Metadata; trailers: grpc.Metadata }
> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let result: { err: grpc.ServiceError | null; res?: Buffer } | undefined;
    let trailers: grpc.Metadata | undefined;
    const settle = () => {
      if (result && trailers) resolve({ ...result, headers, trailers });
    };
    const call = c.makeUnaryRequest(
      path,
      id,
      id,
      Buffer.from(req),
      o.meta ?? new grpc.Metadata(),
      o.deadlineMs === undefined ? {} : { deadline: Date.now() + o.deadlineMs },
      (err, res) => {
        result = { err, res };
        settle();
      },
    );
    call.on("metadata", (m) => (headers = m));
    call.on("status", (st) => {
      trailers = st.metadata;
      settle();
    });
  });
}

function u32(...xs: number[]): Uint8Array {
  const b = new Uint8Array(4 * xs.length);
  xs.forEach((x, i) => new DataView(b.buffer).setUint32(4 * i, x));
  return b;
}

Deno.test("grpc-js: unary, streaming, deadline, error details, metadata, compression, cancellation", () =>
  withEcho(async (e) => {
    const c = new grpc.Client(`unix:${e.socket}`, grpc.credentials.createInsecure());
    try {
      const meta = new grpc.Metadata();
      meta.set("x-echo-a", "js");
      const u = await unary(c, "/bench.Echo/Unary", new TextEncoder().encode("hi js"), { meta });
      assert.equal(u.err, null);
      assert.equal(u.res?.toString(), "hi js");
      assert.deepEqual(u.headers?.get("x-echo-a"), ["js"]);
      assert.deepEqual(u.trailers?.get("x-echo-a-trailer"), ["js"]);

      // Streaming with flow control.
      const stream = c.makeServerStreamRequest(
        "/bench.Echo/Many",
        id,
        id,
        Buffer.from(u32(300, 65536)),
      );
      let n = 0, bytes = 0;
      for await (const m of stream as AsyncIterable<Buffer>) {
        n++;
        bytes += m.length;
      }
      assert.equal(n, 300);
      assert.equal(bytes, 300 * 65536);

      const d = await unary(c, "/bench.Echo/Wait", new Uint8Array(), { deadlineMs: 200 });
      assert.equal(d.err?.code, grpc.status.DEADLINE_EXCEEDED);

      const f = await unary(c, "/bench.Echo/Fail", Uint8Array.of(7, 9));
      assert.equal(f.err?.code, grpc.status.PERMISSION_DENIED);
      assert.equal(f.err?.details, "echo failure");
      const bin = f.err?.metadata.get("grpc-status-details-bin")[0];
      assert.ok(
        bin instanceof Buffer && bin.includes(Buffer.from("type.googleapis.com/bench.Echo")),
      );

      // Cancelling a stream reaches the server: its Stream call ends.
      const s = c.makeServerStreamRequest("/bench.Echo/Stream", id, id, Buffer.from("x"));
      await new Promise<void>((r) => s.once("data", () => r()));
      const openNow = async () => (await unary(c, "/bench.Echo/Open", new Uint8Array())).res!;
      assert.equal((await openNow()).readUInt32BE(0), 1);
      const ended = new Promise<void>((r) => s.on("error", () => r()));
      s.cancel();
      await ended;
      // The server saw the RST_STREAM by the time a later call on the same connection is answered.
      assert.equal((await openNow()).readUInt32BE(0), 0);
    } finally {
      c.close();
    }
    // A compressed request is refused with UNIMPLEMENTED.
    const gz = new grpc.Client(`unix:${e.socket}`, grpc.credentials.createInsecure(), {
      "grpc.default_compression_algorithm": 2,
    });
    try {
      const z = await unary(gz, "/bench.Echo/Unary", new Uint8Array(2048));
      assert.equal(z.err?.code, grpc.status.UNIMPLEMENTED);
    } finally {
      gz.close();
    }
  }));

Deno.test("a failure before any message is one trailers-only HEADERS frame; bad requests get HTTP errors", () =>
  withEcho(async (e) => {
    const session = http2.connect("http://localhost", {
      createConnection: () => net.connect(e.socket),
    });
    try {
      const ask = (headers: http2.OutgoingHttpHeaders, body: Uint8Array) =>
        new Promise<{ headers: http2.IncomingHttpHeaders; trailers: boolean; data: number }>(
          (resolve, reject) => {
            const req = session.request(headers, { endStream: body.length === 0 });
            let got: http2.IncomingHttpHeaders | undefined;
            let trailers = false;
            let data = 0;
            req.on("response", (h) => (got = h));
            req.on("trailers", () => (trailers = true));
            req.on("data", (d: Buffer) => (data += d.length));
            // The server may answer and close before the body is written: judge by what arrived.
            req.on("error", () => {});
            req.on(
              "close",
              () =>
                got ? resolve({ headers: got, trailers, data }) : reject(new Error("no response")),
            );
            if (body.length > 0) req.end(Buffer.from(body));
          },
        );
      const grpcReq = (path: string) => ({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
      });
      const framed = (msg: Uint8Array) => {
        const f = new Uint8Array(5 + msg.length);
        new DataView(f.buffer).setUint32(1, msg.length);
        f.set(msg, 5);
        return f;
      };
      const fail = await ask(grpcReq("/bench.Echo/Fail"), framed(Uint8Array.of(5)));
      assert.equal(fail.headers[":status"], 200);
      assert.equal(fail.headers["grpc-status"], "5");
      assert.equal(fail.headers["grpc-message"], "echo failure");
      assert.equal(fail.trailers, false, "status in the only HEADERS frame");
      assert.equal(fail.data, 0);

      const none = await ask(grpcReq("/bench.Echo/Unary"), new Uint8Array());
      assert.equal(none.headers["grpc-status"], String(grpc.status.INTERNAL), "no request message");
      const two = await ask(
        grpcReq("/bench.Echo/Unary"),
        Buffer.concat([framed(Uint8Array.of(1)), framed(Uint8Array.of(2))]),
      );
      assert.equal(
        two.headers["grpc-status"],
        String(grpc.status.INTERNAL),
        "two request messages",
      );
      const badTimeout = await ask(
        { ...grpcReq("/bench.Echo/Unary"), "grpc-timeout": "soon" },
        framed(Uint8Array.of(1)),
      );
      assert.equal(badTimeout.headers["grpc-status"], String(grpc.status.INTERNAL));
      const get = await ask({ ":method": "GET", ":path": "/bench.Echo/Unary" }, new Uint8Array());
      assert.equal(get.headers[":status"], 405);
      const json = await ask({
        ...grpcReq("/bench.Echo/Unary"),
        "content-type": "application/json",
      }, new Uint8Array());
      assert.equal(json.headers[":status"], 415);
    } finally {
      session.close();
    }
  }));

Deno.test("graceful shutdown: GOAWAY lets an in-flight call finish, then the server exits", async () => {
  const e = await startEcho();
  const c = new grpc.Client(`unix:${e.socket}`, grpc.credentials.createInsecure());
  try {
    // The call is in the server's hands before the signal: a 600 ms Delay.
    const call = unary(c, "/bench.Echo/Delay", u32(600));
    const open = await unary(c, "/bench.Echo/Open", new Uint8Array());
    assert.equal(open.err, null);
    const stopped = e.stop();
    const r = await call;
    assert.equal(r.err, null, "the in-flight call finished");
    const st = await stopped;
    assert.equal(st.code, 0);
  } finally {
    c.close();
  }
});

Deno.test("keepalive: a PING is answered with a PING ACK carrying the same 8 bytes", () =>
  withEcho(async (e) => {
    const c = new RawH2(e.socket);
    try {
      await c.connected();
      const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
      await c.write(PREFACE, settings(), frame(T.PING, 0, 0, data));
      const ack = await c.frame((f) => f.type === T.PING && (f.flags & F.ACK) !== 0);
      assert.deepEqual(ack.payload, data);
    } finally {
      c.destroy();
    }
  }));

Deno.test("a connection whose peer credentials cannot be read is closed before a byte is served", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-nopeer-" });
  const socket = `${dir}/s.sock`;
  const libc = findLibrary(LIBC_CANDIDATES)!;
  const engine = Nghttp2.open(
    { nghttp2: findLibrary(LIBNGHTTP2_CANDIDATES)!, libc },
    ENGINE_LIMITS,
  );
  // The bind tightens this process's umask (as it does the agent's); libc's
  // umask, as the agent uses, since Deno 2.9.6 gates Deno.umask behind --allow-sys.
  const libcUmask = new Libc(libc);
  const setUmask = (m: number) => libcUmask.umask(m);
  const umask = setUmask(0o022);
  setUmask(umask);
  try {
    for (
      const readPeer of [() => undefined, () => {
        throw new Error("EBADF");
      }]
    ) {
      const server = await BrokerServer.start({
        socket,
        mode: 0o600,
        gid: undefined,
        services: [],
        methods: echoMethods(),
        engine,
        readPeer,
        logger: nullLogger,
        maxReceiveBytes: 1024,
        umask: setUmask,
      });
      const c = new RawH2(socket);
      await c.connected();
      await c.write(PREFACE, settings());
      await c.whenClosed();
      assert.equal(c.received, 0, "not even the server's SETTINGS");
      assert.equal(server.connections, 0);
      await server.stop();
    }
  } finally {
    setUmask(umask);
    libcUmask.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
