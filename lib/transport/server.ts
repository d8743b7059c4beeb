/**
 * The broker's gRPC server on a unix socket. The server owns the listener:
 * each accepted connection's peer credentials are read from the kernel
 * (SO_PEERCRED via ffi/libc.ts) before a single byte is parsed, recorded on
 * the socket, and the connection is then handed to grpc-js. Nothing a client
 * sends can change who it is.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import net from "node:net";
import type { Ucred } from "../../ffi/libc.ts";
import type { Logger } from "../core/log.ts";
import type { ServiceBinding } from "../service/types.ts";
import { encodePeer, toGrpcService } from "./grpc.ts";
import { checkBindable, listenUnix, prepareSocketPath, removeSocketIfOurs } from "./socket.ts";

export { checkBindable };

/** Reads a connected socket's kernel peer credentials. */
export type PeerReader = (fd: number) => Ucred | undefined;

/** Options for {@linkcode BrokerServer.start}. */
export interface ServerOptions {
  socket: string;
  mode: number;
  gid: number | undefined;
  services: readonly ServiceBinding[];
  readPeer: PeerReader;
  logger: Logger;
  /** Largest request message accepted, in bytes (bigger ones never allocate). */
  maxReceiveBytes: number;
}

/** A running server. */
export class BrokerServer {
  readonly #grpc: grpc.Server;
  readonly #net: net.Server;
  readonly #injector: ReturnType<grpc.Server["createConnectionInjector"]>;
  readonly #sockets = new Set<net.Socket>();
  readonly #path: string;
  #ino: number | null = null;
  #stopped = false;

  private constructor(opts: ServerOptions) {
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

  /** Prepares the path, binds and starts serving. */
  static async start(opts: ServerOptions): Promise<BrokerServer> {
    await prepareSocketPath(opts.socket);
    const s = new BrokerServer(opts);
    await listenUnix(s.#net, opts.socket, opts.mode, opts.gid);
    try {
      s.#ino = Deno.lstatSync(opts.socket).ino;
    } catch { /* keep null */ }
    return s;
  }

  /** Number of open client connections. */
  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Stops accepting, lets in-flight calls finish for up to `graceMs`, then
   * closes everything and removes the socket file. Safe to call twice.
   */
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
