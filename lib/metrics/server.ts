/**
 * The opt-in Prometheus endpoint (`[metrics] enable = true`): plain HTTP on
 * the configured address (loopback unless `allow-non-loopback`), serving
 * only `GET /metrics` in the text exposition format. Any other path is 404,
 * any other method on `/metrics` 405; a request body is never read.
 * @module
 */

import type { Logger } from "../core/log.ts";
import type { Registry } from "./registry.ts";

/** The exposition format's content type. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Options of {@linkcode startMetricsServer}. */
export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly logger: Logger;
}

/** A running endpoint. */
export interface MetricsServer {
  /** The bound port (the configured one, or the kernel's pick for 0). */
  readonly port: number;
  stop(): Promise<void>;
}

/** Answers one request. */
export function metricsResponse(req: Request, registry: Registry): Response {
  const path = new URL(req.url).pathname;
  if (path !== "/metrics") return new Response("not found\n", { status: 404 });
  if (req.method !== "GET") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET" } });
  }
  return new Response(registry.render(), {
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}

/** Starts the endpoint; throws (e.g. `AddrInUse`) when it cannot listen. */
export function startMetricsServer(o: MetricsServerOptions): MetricsServer {
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: o.host,
    port: o.port,
    signal: ac.signal,
    onListen: () => {},
    onError: () => new Response("internal error\n", { status: 500 }),
  }, (req) => metricsResponse(req, o.registry));
  const addr = server.addr as Deno.NetAddr;
  o.logger.log("info", "metrics endpoint listening", { address: `${o.host}:${addr.port}` });
  return {
    port: addr.port,
    async stop() {
      ac.abort();
      await server.finished;
    },
  };
}
