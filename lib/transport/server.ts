/**
 * The broker's gRPC server on a unix socket, on libnghttp2 (h2_connection.ts)
 * over `node:net`. The server owns the listener: each accepted connection's
 * peer credentials are read from the kernel (SO_PEERCRED) before a single
 * byte is parsed, and a connection whose credentials cannot be read is
 * closed at once. Nothing a client sends can change who it is.
 *
 * Once a second the server enforces every connection's time limits, and
 * returns freed heap memory to the system (malloc_trim) when connections
 * closed since the last time. Abuse (protocol errors, floods, timeouts,
 * refused connections, oversize or malformed messages) is counted in the
 * metrics (`basil_abuse_total`) and logged at a bounded rate per reason
 * (lib/logging/bounded.ts), with a "suppressed K" line for the rest.
 * @module
 */

import net from "node:net";
import type { Ucred } from "../../ffi/libc.ts";
import type { Nghttp2 } from "../../ffi/nghttp2.ts";
import type { Logger } from "../core/log.ts";
import { BoundedLog } from "../logging/bounded.ts";
import { abuseReason, agentMetrics } from "../metrics/agent.ts";
import type { ServiceBinding } from "../service/types.ts";
import { methodsOf } from "./grpc.ts";
import { openGrpcStream } from "./grpc_call.ts";
import type { ActiveCall, CallEnvironment, GrpcMethod } from "./grpc_call.ts";
import { GRPC_STATUS } from "./grpc_wire.ts";
import { H2Connection } from "./h2_connection.ts";
import type { H2Abuse, H2Limits } from "./h2_connection.ts";
import { connectionLimits, MAX_CONNECTIONS } from "./limits.ts";
import { checkBindable, listenUnix, prepareSocketPath, removeSocketIfOurs } from "./socket.ts";
import type { SetUmask } from "./socket.ts";

export { checkBindable };

/** Reads a connected socket's kernel peer credentials. */
export type PeerReader = (fd: number) => Ucred | undefined;

/** Options for {@linkcode BrokerServer.start}. */
export interface ServerOptions {
  readonly socket: string;
  readonly mode: number;
  readonly gid: number | undefined;
  /** Broker services (or raw methods, for the benchmark echo). */
  readonly services: readonly ServiceBinding[];
  readonly methods?: ReadonlyMap<string, GrpcMethod>;
  readonly engine: Nghttp2;
  readonly readPeer: PeerReader;
  readonly logger: Logger;
  /** Largest request message accepted, in bytes (bigger ones never allocate). */
  readonly maxReceiveBytes: number;
  /** Returns freed heap memory to the system (libc malloc_trim). */
  readonly trimMemory?: () => void;
  /** Sets the umask around the bind (default `Deno.umask`). */
  readonly umask?: SetUmask;
  /** Overrides of the per-connection limits (tests). */
  readonly limits?: Partial<H2Limits>;
  readonly maxConnections?: number;
  /** Rate of abuse log lines per reason (default 5 a minute; tests). */
  readonly abuseLog?: { readonly burst?: number; readonly windowMs?: number };
}

const TICK_MS = 1000;

/** A running server. */
export class BrokerServer {
  readonly #o: ServerOptions;
  readonly #net: net.Server;
  readonly #methods: ReadonlyMap<string, GrpcMethod>;
  readonly #limits: H2Limits;
  readonly #connections = new Set<H2Connection>();
  readonly #active = new Set<ActiveCall>();
  readonly #abuseLog: BoundedLog;
  readonly #tick: ReturnType<typeof setInterval>;
  #closedSinceTrim = 0;
  #onEmpty: (() => void) | undefined;
  #ino: number | null = null;
  #stopped = false;

  private constructor(o: ServerOptions) {
    this.#o = o;
    this.#methods = new Map([...methodsOf(o.services, o.logger), ...(o.methods ?? [])]);
    this.#limits = { ...connectionLimits(o.maxReceiveBytes), ...o.limits };
    this.#abuseLog = new BoundedLog({
      logger: o.logger,
      level: "warn",
      message: "refused or misbehaving connection",
      ...o.abuseLog,
      onSuppressed: () => agentMetrics.abuseLogSuppressed.inc(),
    });
    this.#net = net.createServer({ pauseOnConnect: false }, (socket) => this.#accept(socket));
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
  }

  /** Prepares the path, binds and starts serving. */
  static async start(o: ServerOptions): Promise<BrokerServer> {
    await prepareSocketPath(o.socket);
    const s = new BrokerServer(o);
    try {
      await listenUnix(s.#net, o.socket, { mode: o.mode, gid: o.gid, umask: o.umask });
    } catch (e) {
      clearInterval(s.#tick);
      throw e;
    }
    try {
      s.#ino = Deno.lstatSync(o.socket).ino;
    } catch { /* keep null */ }
    return s;
  }

  /** Number of open client connections. */
  get connections(): number {
    return this.#connections.size;
  }

  #accept(socket: net.Socket): void {
    socket.on("error", () => {});
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    if (this.#connections.size >= (this.#o.maxConnections ?? MAX_CONNECTIONS)) {
      this.#count({ kind: "limit", detail: "too many connections" });
      socket.destroy();
      return;
    }
    // deno-lint-ignore no-explicit-any
    const fd = (socket as any)._handle?.fd;
    let peer: Ucred | undefined;
    try {
      peer = typeof fd === "number" && fd >= 0 ? this.#o.readPeer(fd) : undefined;
    } catch {
      peer = undefined;
    }
    if (peer === undefined) {
      // No kernel identity, no service: never "unauthenticated" by accident.
      this.#count({ kind: "protocol", detail: "peer credentials unreadable" });
      socket.destroy();
      return;
    }
    const env: CallEnvironment = {
      methods: this.#methods,
      peer,
      maxMessageBytes: this.#o.maxReceiveBytes,
      active: this.#active,
      onAbuse: (a) => this.#count(a),
    };
    const conn: H2Connection = new H2Connection({
      socket,
      engine: this.#o.engine,
      limits: this.#limits,
      factory: (stream, headers) => openGrpcStream(stream, headers, env),
      onAbuse: (a) => this.#count(a),
      onClosed: () => {
        if (this.#connections.has(conn)) agentMetrics.connectionsOpen.add({}, -1);
        this.#connections.delete(conn);
        this.#closedSinceTrim++;
        if (this.#connections.size === 0) this.#onEmpty?.();
      },
    });
    if (!conn.closed) {
      this.#connections.add(conn);
      agentMetrics.connectionsOpen.add({}, 1);
      agentMetrics.connections.inc();
    }
  }

  #count(a: H2Abuse): void {
    if (a.kind === "internal") {
      this.#o.logger.log("error", "transport callback failed; connection closed", {
        error: a.detail,
      });
      return;
    }
    const reason = abuseReason(a.detail);
    agentMetrics.abuse.inc({ kind: a.kind, reason });
    this.#abuseLog.report(`${a.kind}: ${reason}`);
  }

  #onTick(): void {
    const now = Date.now();
    for (const c of this.#connections) c.tick(now);
    if (this.#closedSinceTrim > 0 && this.#o.trimMemory) {
      this.#closedSinceTrim = 0;
      this.#o.trimMemory();
    }
    this.#abuseLog.summarize();
  }

  /**
   * Stops accepting and sends every connection GOAWAY; unary calls in flight
   * may finish for up to `graceMs`, streaming calls end at once with
   * UNAVAILABLE (their clients reconnect). Then everything still open is
   * closed and the socket file removed. Safe to call twice.
   */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#net.close();
    removeSocketIfOurs(this.#o.socket, this.#ino);
    for (const c of this.#connections) c.shutdown();
    for (const call of [...this.#active]) {
      if (call.streaming) call.cancel(GRPC_STATUS.UNAVAILABLE, "server shutting down");
    }
    if (this.#connections.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#onEmpty = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    for (const call of [...this.#active]) {
      call.cancel(GRPC_STATUS.UNAVAILABLE, "server shutting down");
    }
    for (const c of [...this.#connections]) c.destroy();
    clearInterval(this.#tick);
  }
}
