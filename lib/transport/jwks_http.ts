/**
 * The JWKS / OIDC discovery HTTP endpoint (`[jwks]`, off by default).
 * Hardened: GET only (contract §4.7); exactly three fixed paths (no file system, no
 * traversal, nothing reflected from Host or X-Forwarded-*); no request body is
 * read; public data only (the JWKS of every JWT-SVID issuer version in the
 * grace window); `Cache-Control: public, max-age=300` and a strong content
 * ETag; the document is rebuilt at most every 2 s, and concurrent requests
 * share one rebuild.
 * @module
 */

import type { Logger } from "../core/log.ts";
import { toBase64Url } from "../core/encoding.ts";

/** What the endpoint serves. */
export interface JwksSource {
  /** Every JWK to publish. */
  jwks(): Promise<Record<string, string>[]>;
}

/** Options for {@linkcode startJwksServer}. */
export interface JwksServerOptions {
  readonly host: string;
  readonly port: number;
  /** Absolute http(s) issuer URL without a trailing slash; enables discovery. */
  readonly issuer: string | undefined;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly source: JwksSource;
  readonly logger: Logger;
  readonly now?: () => number;
}

const CACHE_MS = 2000;
const JWKS_PATHS = new Set(["/jwks.json", "/.well-known/jwks.json"]);

async function etagOf(body: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  return `"${toBase64Url(d)}"`;
}

/** Builds the request handler (exported for tests). */
export function jwksHandler(
  o: Omit<JwksServerOptions, "host" | "port" | "tls">,
): (req: Request) => Promise<Response> {
  const now = o.now ?? Date.now;
  type Doc = { at: number; body: Uint8Array<ArrayBuffer>; etag: string };
  let cache: Doc | undefined;
  let building: Promise<Doc> | undefined;
  const enc = new TextEncoder();
  const build = async (): Promise<Doc> => {
    const body = enc.encode(JSON.stringify({ keys: await o.source.jwks() }));
    return { at: now(), body, etag: await etagOf(body) };
  };
  const jwksDoc = (): Promise<Doc> => {
    if (cache && now() - cache.at < CACHE_MS) return Promise.resolve(cache);
    building ??= build().then((d) => (cache = d)).finally(() => (building = undefined));
    return building;
  };
  const discovery = o.issuer === undefined ? undefined : enc.encode(JSON.stringify({
    issuer: o.issuer,
    jwks_uri: `${o.issuer}/jwks.json`,
    id_token_signing_alg_values_supported: ["RS256", "ES256", "ES384"],
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
  }));
  // The discovery document never changes: its ETag is computed once, on first use.
  let discoveryEtag: Promise<string> | undefined;
  const plain = (status: number, extra: Record<string, string> = {}) =>
    new Response(status === 405 ? "method not allowed\n" : "not found\n", {
      status,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "x-content-type-options": "nosniff",
        ...extra,
      },
    });
  return async (req) => {
    if (req.method !== "GET") return plain(405, { allow: "GET" });
    let path: string;
    try {
      path = new URL(req.url).pathname;
    } catch {
      return plain(404);
    }
    let body: Uint8Array<ArrayBuffer>;
    let etag: string;
    let type: string;
    if (JWKS_PATHS.has(path)) {
      try {
        const d = await jwksDoc();
        body = d.body;
        etag = d.etag;
      } catch (e) {
        o.logger.log("error", "jwks build failed", {
          error: e instanceof Error ? e.name : "error",
        });
        return new Response("unavailable\n", { status: 503 });
      }
      type = "application/jwk-set+json";
    } else if (path === "/.well-known/openid-configuration" && discovery) {
      body = discovery;
      etag = await (discoveryEtag ??= etagOf(discovery));
      type = "application/json";
    } else return plain(404);
    const headers = {
      "content-type": type,
      "cache-control": "public, max-age=300",
      etag,
      "x-content-type-options": "nosniff",
    };
    if (req.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(body, { status: 200, headers });
  };
}

/** Starts the endpoint; resolves to a stopper. */
export function startJwksServer(o: JwksServerOptions): { stop(): Promise<void> } {
  const ac = new AbortController();
  const handler = jwksHandler(o);
  const server = Deno.serve({
    hostname: o.host,
    port: o.port,
    signal: ac.signal,
    onListen: () => o.logger.log("info", "jwks endpoint listening", { host: o.host, port: o.port }),
    onError: () => new Response("internal error\n", { status: 500 }),
    ...(o.tls ? { cert: o.tls.cert, key: o.tls.key } : {}),
  }, handler);
  return {
    async stop() {
      ac.abort();
      await server.finished.catch(() => {});
    },
  };
}
