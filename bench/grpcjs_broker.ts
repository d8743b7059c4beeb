// deno-lint-ignore-file no-console
/**
 * Benchmark only (never imported by lib/): the broker's services on the
 * grpc-js server path the agent used before the libnghttp2 transport, kept
 * so `deno task bench --suite transport` can compare the two in one run
 * (issue 10). Ported from lib/transport/grpc.ts and server.ts as they were
 * at commit 7c8e452:
 *
 * - {@linkcode toGrpcService}: a `ServiceBinding` (lib/service/*) as a
 *   grpc-js service with identity serializers; requests decoded and
 *   responses encoded here, deferred cleanups run after encoding, the
 *   serialized response zeroed once grpc-js copied it; errors through the
 *   one status table (lib/transport/status.ts), details as
 *   `grpc-status-details-bin` trailer metadata.
 * - {@linkcode GrpcJsBrokerServer}: a `node:net` listener on the unix socket
 *   whose connections get their kernel peer credentials (SO_PEERCRED via
 *   ffi/libc.ts) before a byte is parsed, recorded as the socket's
 *   `remoteAddress` (`basil-peer:uid=…;gid=…;pid=…`), then handed to grpc-js
 *   through its connection injector.
 *
 * As a process it serves the transport suite's broker (the GetSecret value
 * key and the Ed25519 signing key), built in process as lib/daemon.ts
 * builds it (bench/setup.ts: catalog, policy, keystore file, audit file),
 * with the agent's service list, socket mode 0600:
 *
 *   deno run --allow-ffi … bench/grpcjs_broker.ts <socket>
 *
 * It prints `listening <socket>` once bound and stops on SIGTERM.
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import net from "node:net";
import { findLibrary, LIBC_CANDIDATES } from "../ffi/_dlopen.ts";
import { Libc } from "../ffi/libc.ts";
import type { Ucred } from "../ffi/libc.ts";
import type { BasilError } from "../lib/core/errors.ts";
import { invalidRequest } from "../lib/core/errors.ts";
import type { Logger } from "../lib/core/log.ts";
import { nullLogger } from "../lib/core/log.ts";
import type { PeerIdentity } from "../lib/policy/pdp.ts";
import { adminService } from "../lib/service/admin_service.ts";
import { aeadService } from "../lib/service/aead_service.ts";
import { mintingService } from "../lib/service/minting_service.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { signingService } from "../lib/service/signing_service.ts";
import { spiffeService } from "../lib/service/spiffe_service.ts";
import type { CallContext, ServiceBinding } from "../lib/service/types.ts";
import { RevocationList } from "../lib/spiffe/revocation.ts";
import { WorkloadApi } from "../lib/spiffe/workload.ts";
import { asBasilError, toStatusError } from "../lib/transport/status.ts";
import { listenUnix, prepareSocketPath, removeSocketIfOurs } from "../lib/transport/socket.ts";
import type { Core } from "./setup.ts";
import { inProcessTransport } from "./setup.ts";

const PEER_PREFIX = "basil-peer:";

/** Encodes attested credentials into the socket's `remoteAddress`. */
export function encodePeer(peer: PeerIdentity | undefined): string {
  return peer === undefined
    ? `${PEER_PREFIX}none`
    : `${PEER_PREFIX}uid=${peer.uid};gid=${peer.gid};pid=${peer.pid}`;
}

const PEER_RE = /^basil-peer:uid=(\d+);gid=(\d+);pid=(-?\d+)$/;

/** Recovers the credentials set by {@linkcode encodePeer} from `call.getPeer()`. */
export function decodePeer(peer: string): PeerIdentity | undefined {
  const m = PEER_RE.exec(peer);
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: Number(m[2]), pid: Number(m[3]) };
}

const identity = (b: Buffer): Buffer => b;

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

type AnyCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>;

function contextOf(call: AnyCall): { ctx: CallContext; cleanups: (() => void)[] } {
  const cleanups: (() => void)[] = [];
  const ac = new AbortController();
  (call as grpc.ServerUnaryCall<Buffer, Buffer>).once("cancelled", () => ac.abort());
  const ctx: CallContext = {
    peer: decodePeer(call.getPeer()),
    metadata: (name) => call.metadata.get(name).filter((v): v is string => typeof v === "string"),
    signal: ac.signal,
    defer: (fn) => cleanups.push(fn),
  };
  return { ctx, cleanups };
}

function runCleanups(cleanups: (() => void)[]): void {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch { /* cleanup must not throw */ }
  }
}

/** The grpc-js error object for a broker error (the old status.ts `toServiceError`). */
function toServiceError(
  err: BasilError,
  plain: boolean,
): Partial<grpc.StatusObject> & { code: grpc.status } {
  const s = toStatusError(err, plain);
  const metadata = new grpc.Metadata();
  if (s.details !== undefined) metadata.set("grpc-status-details-bin", Buffer.from(s.details));
  return { code: s.code as number as grpc.status, details: s.message, metadata };
}

/** A grpc-js service definition plus its implementation. */
export interface GrpcService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** Builds the grpc-js definition and implementation of a binding. */
export function toGrpcService(binding: ServiceBinding, logger: Logger): GrpcService {
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  const fail = (e: unknown, op: string) => {
    const err = asBasilError(e, op);
    if (err.code === "INTERNAL" || err.detail !== undefined) {
      logger.log(err.code === "INTERNAL" ? "error" : "debug", "request failed", {
        op,
        code: err.code,
        detail: err.detail,
      });
    }
    return toServiceError(err, binding.plainErrors);
  };
  for (const method of binding.service.methods) {
    const handler = binding.handlers[method.localName];
    if (typeof handler !== "function") {
      throw new TypeError(`Cannot bind ${binding.service.typeName}: no handler for ${method.name}`);
    }
    const streaming = method.methodKind === "server_streaming";
    if (!streaming && method.methodKind !== "unary") {
      throw new TypeError(`Cannot bind ${method.name}: only unary and server streaming are served`);
    }
    definition[method.localName] = {
      path: `/${binding.service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: streaming,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    const op = snake(method.name);
    implementation[method.localName] = streaming
      ? serveStream(method, handler as StreamFn, op, fail)
      : serveUnary(method, handler as UnaryFn, op, fail);
  }
  return { definition, implementation };
}

type UnaryFn = (req: unknown, ctx: CallContext) => Promise<unknown>;
type StreamFn = (
  req: unknown,
  ctx: CallContext,
  send: (msg: unknown) => Promise<void>,
) => Promise<void>;
type Fail = (e: unknown, op: string) => ReturnType<typeof toServiceError>;

function decode(method: DescMethod, bytes: Buffer, op: string): unknown {
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw invalidRequest("malformed request message", op);
  }
}

function encode(method: DescMethod, msg: unknown): Buffer {
  // deno-lint-ignore no-explicit-any
  const bytes = toBinary(method.output, create(method.output, msg as any));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Unary calls. The serialized response is zeroed right after `callback`
 * returns: with no server interceptors, grpc-js 1.14 copies it into a fresh
 * framed buffer synchronously, inside `callback`.
 */
function serveUnary(method: DescMethod, handler: UnaryFn, op: string, fail: Fail) {
  return (
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    callback: grpc.sendUnaryData<Buffer>,
  ): void => {
    const { ctx, cleanups } = contextOf(call);
    let out: Buffer;
    (async () => {
      const res = await handler(decode(method, call.request, op), ctx);
      out = encode(method, res);
    })().then(
      () => {
        runCleanups(cleanups);
        try {
          callback(null, out);
        } finally {
          out.fill(0);
        }
      },
      (e) => {
        runCleanups(cleanups);
        callback(fail(e, op));
      },
    );
  };
}

/** Server-streaming calls; a message's bytes are zeroed in its write callback or at cancel. */
function serveStream(method: DescMethod, handler: StreamFn, op: string, fail: Fail) {
  return (call: grpc.ServerWritableStream<Buffer, Buffer>): void => {
    const { ctx, cleanups } = contextOf(call);
    const pending = new Set<Buffer>();
    ctx.signal.addEventListener("abort", () => {
      for (const b of pending) b.fill(0);
      pending.clear();
    });
    const send = async (msg: unknown) => {
      if (ctx.signal.aborted) throw new DOMException("stream cancelled", "AbortError");
      const bytes = encode(method, msg);
      pending.add(bytes);
      const ok = call.write(bytes, () => {
        bytes.fill(0);
        pending.delete(bytes);
      });
      runCleanups(cleanups);
      if (!ok) {
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          };
          call.on("drain", done);
          ctx.signal.addEventListener("abort", done);
        });
      }
    };
    (async () => {
      await handler(decode(method, call.request, op), ctx, send);
    })().then(
      () => {
        runCleanups(cleanups);
        if (!ctx.signal.aborted) call.end();
      },
      (e) => {
        runCleanups(cleanups);
        if (!ctx.signal.aborted) call.emit("error", fail(e, op));
      },
    );
  };
}

/** Options for {@linkcode GrpcJsBrokerServer.start}. */
export interface GrpcJsServerOptions {
  socket: string;
  mode: number;
  services: readonly ServiceBinding[];
  readPeer: (fd: number) => Ucred | undefined;
  logger: Logger;
  /** Largest request message accepted, in bytes. */
  maxReceiveBytes: number;
}

/** The agent's old server: SO_PEERCRED per connection, then grpc-js's connection injector. */
export class GrpcJsBrokerServer {
  readonly #grpc: grpc.Server;
  readonly #net: net.Server;
  readonly #injector: ReturnType<grpc.Server["createConnectionInjector"]>;
  readonly #sockets = new Set<net.Socket>();
  readonly #path: string;
  #ino: number | null = null;
  #stopped = false;

  private constructor(opts: GrpcJsServerOptions) {
    this.#path = opts.socket;
    this.#grpc = new grpc.Server({
      "grpc.max_receive_message_length": opts.maxReceiveBytes,
      "grpc.max_send_message_length": -1,
    });
    for (const b of opts.services) {
      const svc = toGrpcService(b, opts.logger);
      this.#grpc.addService(svc.definition, svc.implementation);
    }
    this.#injector = this.#grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.#net = net.createServer({ pauseOnConnect: false }, (socket) => {
      socket.on("error", () => {});
      // deno-lint-ignore no-explicit-any
      const fd = (socket as any)._handle?.fd;
      let cred: Ucred | undefined;
      try {
        cred = typeof fd === "number" && fd >= 0 ? opts.readPeer(fd) : undefined;
      } catch {
        cred = undefined;
      }
      Object.defineProperty(socket, "remoteAddress", { value: encodePeer(cred) });
      Object.defineProperty(socket, "remotePort", { value: undefined });
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
      this.#injector.injectConnection(socket);
    });
  }

  /** Prepares the path, binds (mode `mode`) and starts serving. */
  static async start(opts: GrpcJsServerOptions): Promise<GrpcJsBrokerServer> {
    await prepareSocketPath(opts.socket);
    const s = new GrpcJsBrokerServer(opts);
    await listenUnix(s.#net, opts.socket, { mode: opts.mode, gid: undefined });
    try {
      s.#ino = Deno.lstatSync(opts.socket).ino;
    } catch { /* keep null */ }
    return s;
  }

  /** Number of open client connections. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting, lets calls finish for up to `graceMs`, then closes everything. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#net.close();
    removeSocketIfOurs(this.#path, this.#ino);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#grpc.forceShutdown();
        resolve();
      }, graceMs);
      this.#grpc.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.#injector.destroy();
    for (const s of this.#sockets) s.destroy();
  }
}

/** The agent's service list (lib/daemon.ts) over a broker built in process. */
export function agentServices(core: Core): { services: ServiceBinding[]; close(): void } {
  const api = new WorkloadApi(core.deps, 300, new RevocationList());
  return {
    services: [
      secretService(core.deps),
      adminService(core.deps, api),
      signingService(core.deps),
      aeadService(core.deps),
      mintingService(core.deps),
      spiffeService(core.deps, api),
    ],
    close: () => api.close(),
  };
}

if (import.meta.main) {
  const [sock] = Deno.args;
  if (!sock) {
    console.error("usage: grpcjs_broker.ts <socket>");
    Deno.exit(2);
  }
  const dir = await Deno.makeTempDir({ prefix: "basil-bench-grpcjs-" });
  const core = await inProcessTransport(dir);
  const { services, close } = agentServices(core);
  const libcPath = findLibrary(LIBC_CANDIDATES);
  if (libcPath === undefined) throw new Error("no libc found");
  const libc = new Libc(libcPath);
  const server = await GrpcJsBrokerServer.start({
    socket: sock,
    mode: 0o600,
    services,
    readPeer: (fd) => libc.peerCredentials(fd),
    logger: nullLogger,
    // As the agent: max(max-payload-size, max-encrypt-size) + 64 KiB.
    maxReceiveBytes: Math.max(
      core.deps.limits.maxPayloadSize,
      core.deps.limits.maxEncryptSize,
    ) + 64 * 1024,
  });
  console.log("listening", sock);
  const stop = async () => {
    await server.stop();
    close();
    core.backend.close();
    core.audit.close();
    Deno.removeSync(dir, { recursive: true });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
