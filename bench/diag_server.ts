// deno-lint-ignore-file no-console
/**
 * Diagnostic servers that sit between the bare echo and the real agent, to
 * attribute the agent's extra cost (`deno task bench --diag`):
 *
 * - `echo-injector`: the echo handler behind the agent's way of accepting
 *   connections (a node:net server handing sockets to grpc-js through
 *   `createConnectionInjector`, lib/transport/server.ts) instead of
 *   `bindAsync`.
 * - `handler-plain`: the broker's real GetSecret handler (lib/service +
 *   lib/transport/grpc.ts adapter, in-process broker from bench/setup.ts)
 *   on a plain `bindAsync` grpc-js server; the peer is fixed to this uid.
 * - `handler-server`: the same handler behind the real BrokerServer
 *   (lib/transport/server.ts), peer credentials fixed instead of SO_PEERCRED.
 *
 * None of these runs the launcher or the agent's permission sandbox; the
 * difference to the agent is what those (and SO_PEERCRED) cost.
 *
 *   deno run … bench/diag_server.ts <mode> <socket>
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { Buffer } from "node:buffer";
import net from "node:net";
import { nullLogger } from "../lib/core/log.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { encodePeer, toGrpcService } from "../lib/transport/grpc.ts";
import { BrokerServer } from "../lib/transport/server.ts";
import { ECHO_PATH, inProcessBroker } from "./setup.ts";

const [mode, sock] = Deno.args;
if (!mode || !sock) {
  console.error("usage: diag_server.ts echo-injector|handler-plain|handler-server <socket>");
  Deno.exit(2);
}
try {
  Deno.removeSync(sock);
} catch { /* absent */ }
const dir = await Deno.makeTempDir({ prefix: "basil-bench-diag-" });
const cleanups: (() => void | Promise<void>)[] = [() => Deno.removeSync(dir, { recursive: true })];
const id = (x: Buffer): Buffer => x;

if (mode === "echo-injector") {
  const server = new grpc.Server();
  server.addService({
    unary: {
      path: ECHO_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    },
  }, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, call.request),
  });
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer({ pauseOnConnect: false }, (socket) => {
    socket.on("error", () => {});
    injector.injectConnection(socket);
  });
  await new Promise<void>((r) => listener.listen(sock, r));
  cleanups.push(() => {
    listener.close();
    server.forceShutdown();
  });
} else if (mode === "handler-plain" || mode === "handler-server") {
  const b = await inProcessBroker(dir);
  cleanups.push(() => b.close());
  const binding = secretService(b.deps);
  if (mode === "handler-plain") {
    const svc = toGrpcService(binding, nullLogger);
    const peer = encodePeer(b.peer);
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [k, fn] of Object.entries(svc.implementation)) {
      impl[k] = ((call: { getPeer: () => string }, ...rest: unknown[]) => {
        call.getPeer = () => peer;
        return (fn as (...a: unknown[]) => unknown)(call, ...rest);
      }) as grpc.UntypedHandleCall;
    }
    const server = new grpc.Server();
    server.addService(svc.definition, impl);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `unix:${sock}`,
        grpc.ServerCredentials.createInsecure(),
        (e) => e ? reject(e) : resolve(),
      )
    );
    cleanups.push(() => server.forceShutdown());
  } else {
    const server = await BrokerServer.start({
      socket: sock,
      mode: 0o600,
      gid: undefined,
      services: [binding],
      readPeer: () => ({ uid: b.peer.uid, gid: b.peer.gid, pid: b.peer.pid }),
      logger: nullLogger,
      maxReceiveBytes: 1 << 20,
    });
    cleanups.push(() => server.stop());
  }
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
console.log("listening", sock);

const stop = async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch { /* best effort */ }
  }
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
