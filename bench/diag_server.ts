// deno-lint-ignore-file no-console
/**
 * Diagnostic servers that sit between the bare echo and the real agent, to
 * attribute the agent's extra cost (`deno task bench --diag`):
 *
 * - `echo-injector`: the echo handler behind the agent's way of accepting
 *   connections (a node:net server handing sockets to grpc-js through
 *   `createConnectionInjector`, lib/transport/server.ts) instead of
 *   `bindAsync`.
 * - `handler-plain`: the broker's real GetSecret handler (lib/service + the
 *   grpc-js adapter the agent used before libnghttp2, bench/grpcjs_broker.ts;
 *   in-process broker from bench/setup.ts) on a plain `bindAsync` grpc-js
 *   server; the peer is fixed to this uid.
 * - `handler-server`: the same service behind the agent's real BrokerServer
 *   (lib/transport/server.ts: libnghttp2 via FFI), peer credentials fixed
 *   instead of SO_PEERCRED.
 *
 * None of these runs the launcher or the agent's permission sandbox; the
 * difference to the agent is what those (and SO_PEERCRED) cost.
 *
 * - `handler-timed`: `handler-plain`, plus timing inside the server: the
 *   handler from entry to its callback, the idle gap from one callback to
 *   the next call's entry, and the time per call spent in the keystore's
 *   row reads (`store.read`), the transit engine's `info` and `sign` /
 *   `encrypt`, and the audit append. Written as one JSON line to
 *   `<statsFile>` at SIGTERM (p50 / p99 µs per series).
 *
 * The handler modes serve the GetSecret suite's broker (SecretService), or
 * with `tier2` the Tier 2 suite's (SigningService and AeadService, keys
 * created in process).
 *
 *   deno run --allow-ffi … bench/diag_server.ts <mode> <socket> [getsecret|tier2] [statsFile]
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { Buffer } from "node:buffer";
import net from "node:net";
import { findLibrary, LIBC_CANDIDATES, LIBNGHTTP2_CANDIDATES } from "../ffi/_dlopen.ts";
import { Nghttp2 } from "../ffi/nghttp2.ts";
import { nullLogger } from "../lib/core/log.ts";
import { aeadService } from "../lib/service/aead_service.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { signingService } from "../lib/service/signing_service.ts";
import type { ServiceBinding } from "../lib/service/types.ts";
import { ENGINE_LIMITS } from "../lib/transport/limits.ts";
import { BrokerServer } from "../lib/transport/server.ts";
import { encodePeer, toGrpcService } from "./grpcjs_broker.ts";
import { ECHO_PATH, inProcessBroker, inProcessTier2 } from "./setup.ts";

const [mode, sock, suite = "getsecret", statsFile] = Deno.args;
if (
  !mode || !sock || (suite !== "getsecret" && suite !== "tier2") ||
  (mode === "handler-timed" && !statsFile)
) {
  console.error(
    "usage: diag_server.ts echo-injector|handler-plain|handler-server|handler-timed <socket> " +
      "[getsecret|tier2] [statsFile]",
  );
  Deno.exit(2);
}
try {
  Deno.removeSync(sock);
} catch { /* absent */ }
const dir = await Deno.makeTempDir({ prefix: "basil-bench-diag-" });
const cleanups: (() => void | Promise<void>)[] = [() => Deno.removeSync(dir, { recursive: true })];
const id = (x: Buffer): Buffer => x;

/** `handler-timed`'s clocks (see the module doc). */
class Timer {
  readonly #file: string;
  /** Time spent in each wrapped call during the current request, ms. */
  readonly #acc = new Map<string, number>();
  readonly #series = new Map<string, number[]>();
  #lastEnd = 0;

  constructor(
    b: { backend: { store: object; transit?: object; kv?: object }; deps: { audit: object } },
    file: string,
  ) {
    this.#file = file;
    this.#wrap(b.backend.store, "read", "store.read");
    this.#wrap(b.deps.audit, "write", "audit.write");
    if (b.backend.transit) {
      for (const m of ["info", "sign", "encrypt"]) this.#wrap(b.backend.transit, m, `transit.${m}`);
    }
  }

  /** Replaces `obj[name]` by a version that adds its duration (sync or async) to the request's. */
  #wrap(obj: object, name: string, label: string): void {
    const o = obj as Record<string, (...a: unknown[]) => unknown>;
    const orig = o[name]!.bind(obj);
    const add = (t: number) =>
      this.#acc.set(label, (this.#acc.get(label) ?? 0) + performance.now() - t);
    o[name] = (...a: unknown[]) => {
      const t = performance.now();
      const r = orig(...a);
      if (r instanceof Promise) return r.finally(() => add(t));
      add(t);
      return r;
    };
  }

  #push(name: string, ms: number): void {
    let s = this.#series.get(name);
    if (!s) this.#series.set(name, s = []);
    s.push(ms);
  }

  /** Calls a unary handler, timing it to its callback. */
  call(handle: (...a: unknown[]) => unknown, call: unknown, rest: unknown[]): unknown {
    const t = performance.now();
    if (this.#lastEnd > 0) this.#push("gap", t - this.#lastEnd);
    const cb = rest[0] as (...a: unknown[]) => void;
    return handle(call, (...r: unknown[]) => {
      this.#push("handler", performance.now() - t);
      for (const [k, v] of this.#acc) {
        this.#push(k, v);
        this.#acc.set(k, 0);
      }
      cb(...r);
      this.#lastEnd = performance.now();
    });
  }

  write(): void {
    const q = (a: number[], p: number) => +(a[Math.floor(p * a.length)]! * 1000).toFixed(1);
    const stats = Object.fromEntries(
      [...this.#series].map(([k, v]) => {
        v.sort((x, y) => x - y);
        return [k, { n: v.length, p50_us: q(v, 0.5), p99_us: q(v, 0.99) }];
      }),
    );
    Deno.writeTextFileSync(this.#file, JSON.stringify(stats) + "\n");
  }
}

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
} else if (mode === "handler-plain" || mode === "handler-server" || mode === "handler-timed") {
  const b = suite === "tier2" ? await inProcessTier2(dir) : await inProcessBroker(dir);
  cleanups.push(() => b.close());
  const bindings: ServiceBinding[] = suite === "tier2"
    ? [signingService(b.deps), aeadService(b.deps)]
    : [secretService(b.deps)];
  if (mode === "handler-plain" || mode === "handler-timed") {
    const peer = encodePeer(b.peer);
    const timer = mode === "handler-timed" ? new Timer(b, statsFile!) : undefined;
    const server = new grpc.Server();
    for (const binding of bindings) {
      const svc = toGrpcService(binding, nullLogger);
      const impl: grpc.UntypedServiceImplementation = {};
      for (const [k, fn] of Object.entries(svc.implementation)) {
        const handle = fn as (...a: unknown[]) => unknown;
        impl[k] = ((call: { getPeer: () => string }, ...rest: unknown[]) => {
          call.getPeer = () => peer;
          return timer ? timer.call(handle, call, rest) : handle(call, ...rest);
        }) as grpc.UntypedHandleCall;
      }
      server.addService(svc.definition, impl);
    }
    if (timer) cleanups.push(() => timer.write());
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `unix:${sock}`,
        grpc.ServerCredentials.createInsecure(),
        (e) => e ? reject(e) : resolve(),
      )
    );
    cleanups.push(() => server.forceShutdown());
  } else {
    const engine = Nghttp2.open({
      nghttp2: findLibrary(LIBNGHTTP2_CANDIDATES)!,
      libc: findLibrary(LIBC_CANDIDATES)!,
    }, ENGINE_LIMITS);
    const server = await BrokerServer.start({
      socket: sock,
      mode: 0o600,
      gid: undefined,
      services: bindings,
      engine,
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
