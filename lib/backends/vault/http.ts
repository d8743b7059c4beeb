/**
 * The HTTP layer of the Vault/OpenBao backend: one client per backend
 * address, `{addr}/v1/<path>`, JSON bodies as bytes.
 *
 * Invariants:
 * - Every attempt has a timeout; a timeout or a transport failure is
 *   BACKEND_UNAVAILABLE. Only idempotent reads (GET) are retried, a bounded
 *   number of times with a short backoff, and only after a transport
 *   failure, a timeout or 502/503/504.
 * - Redirects are never followed (a 3xx is BACKEND_ERROR): the token must
 *   not travel to a host the operator did not name.
 * - Response bodies are capped (`maxBodyBytes`); a larger body is
 *   BACKEND_ERROR and the rest is not read. Bodies are parsed by the
 *   byte-level JSON reader, so secret values (tokens, plaintexts, KV values)
 *   stay bytes, and the raw body is wiped once parsed. Malformed JSON is
 *   BACKEND_ERROR.
 * - Request bodies are bytes built by the caller (who wipes them); the token
 *   becomes a string only for the `X-Vault-Token` header of one request,
 *   because `fetch` takes header values as strings.
 * - Plain `http://` to a host that is not loopback is allowed but logged as
 *   a warning once, when the client is made.
 * @module
 */

import type { Logger } from "../../core/log.ts";
import { JsonSyntaxError, type JsonValue, parseJsonBytes } from "../../seal/json_bytes.ts";
import { clip, rejected, statusError, unavailable } from "./errors.ts";
import { member } from "./json.ts";

/** Default per-attempt timeout. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default cap on a response body (a 1 MiB value is ~1.4 MB of base64). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Default retries of an idempotent read. */
export const DEFAULT_RETRIES = 2;
const BACKOFF_MS = 50;

/** Options for {@linkcode VaultHttp}. */
export interface VaultHttpOptions {
  /** Base address, `http(s)://host[:port]`, no path beyond `/`. */
  readonly addr: string;
  /** PEM CA certificates to trust instead of the default roots. */
  readonly caCertPem?: string;
  readonly timeoutMs?: number;
  readonly maxBodyBytes?: number;
  readonly retries?: number;
  readonly logger: Logger;
}

/** One request. `path` is relative to `/v1/` and already percent-encoded. */
export interface VaultRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** JSON body bytes (the caller wipes them). */
  readonly body?: Uint8Array;
  readonly token?: string;
  /** Return the body as bytes instead of parsing JSON (PEM endpoints). */
  readonly raw?: boolean;
}

/** An answer. Statuses are not judged here; engines decide what each means. */
export interface VaultReply {
  readonly status: number;
  /** The parsed body; undefined when empty or raw. Wipe with `wipeJson` if it held secrets. */
  readonly json: JsonValue | undefined;
  /** The body bytes in raw mode. */
  readonly raw: Uint8Array | undefined;
  /** The `errors` strings of an error body (backend text: logs only). */
  readonly errors: readonly string[];
}

/** Whether `host` (a URL hostname) is a loopback address or name. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    // 127.0.0.0/8 mapped into IPv6, as URL spells it (`[::ffff:7f00:1]`).
    /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
}

/** Validates a backend address; throws a RangeError naming the problem. */
export function parseVaultAddr(addr: string): URL {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new RangeError(`"${addr}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RangeError(`"${addr}" must be an http:// or https:// URL`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new RangeError("the address must not carry credentials");
  }
  if (url.search !== "" || url.hash !== "" || (url.pathname !== "/" && url.pathname !== "")) {
    throw new RangeError(`"${addr}" must be a bare origin (no path, query or fragment)`);
  }
  return url;
}

/** Percent-encodes each segment of a slash-separated path; rejects empty, `.` and `..` segments. */
export function encodePath(path: string): string {
  const segs = path.split("/");
  for (const s of segs) {
    if (s === "" || s === "." || s === "..") {
      throw rejected(`vault path "${clip(path)}" has an empty or dot segment`);
    }
  }
  return segs.map(encodeURIComponent).join("/");
}

/** A Vault/OpenBao HTTP client bound to one address. */
export class VaultHttp {
  readonly origin: string;
  readonly #client: Deno.HttpClient | undefined;
  readonly #timeoutMs: number;
  readonly #maxBody: number;
  readonly #retries: number;

  constructor(options: VaultHttpOptions) {
    const url = parseVaultAddr(options.addr);
    this.origin = url.origin;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#retries = options.retries ?? DEFAULT_RETRIES;
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      options.logger.log("warn", "vault backend address is plaintext http to a non-loopback host", {
        addr: url.origin,
      });
    }
    this.#client = options.caCertPem === undefined
      ? undefined
      : Deno.createHttpClient({ caCerts: [options.caCertPem] });
  }

  /** Sends `req`, retrying idempotent reads; throws only BACKEND_UNAVAILABLE / BACKEND_ERROR. */
  async call(req: VaultRequest): Promise<VaultReply> {
    const attempts = req.method === "GET" ? 1 + this.#retries : 1;
    let last: Error | undefined;
    for (let n = 0; n < attempts; n++) {
      if (n > 0) await new Promise((r) => setTimeout(r, BACKOFF_MS * 2 ** (n - 1)));
      try {
        const reply = await this.#once(req);
        const retryable = reply.status === 502 || reply.status === 503 || reply.status === 504;
        if (retryable && n + 1 < attempts) {
          last = statusError(`${req.method} ${req.path}`, reply.status, reply.errors);
          continue;
        }
        return reply;
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        last = unavailable(`vault ${req.method} ${req.path}: ${e.message}`);
      }
    }
    throw last!;
  }

  async #once(req: VaultRequest): Promise<VaultReply> {
    const qs = req.query === undefined ? "" : `?${new URLSearchParams(req.query)}`;
    const url = `${this.origin}/v1/${req.path}${qs}`;
    const headers: Record<string, string> = { "Accept": "application/json" };
    if (req.token !== undefined) headers["X-Vault-Token"] = req.token;
    if (req.body !== undefined) headers["Content-Type"] = "application/json";
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        method: req.method,
        headers,
        body: req.body as Uint8Array<ArrayBuffer> | undefined,
        redirect: "manual",
        signal,
        ...(this.#client === undefined ? {} : { client: this.#client }),
      });
    } catch (e) {
      throw new TransportError(describe(e, signal));
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw rejected(`vault ${req.method} ${req.path}: HTTP ${res.status} redirect refused`);
    }
    let body: Uint8Array;
    try {
      body = await readCapped(res, this.#maxBody);
    } catch (e) {
      if (e instanceof CapError) {
        throw rejected(
          `vault ${req.method} ${req.path}: response body exceeds ${this.#maxBody} bytes`,
        );
      }
      throw new TransportError(describe(e, signal));
    }
    if (req.raw && res.status >= 200 && res.status < 300) {
      return { status: res.status, json: undefined, raw: body, errors: [] };
    }
    let json: JsonValue | undefined;
    try {
      json = body.length === 0 ? undefined : parseJsonBytes(body);
    } catch (e) {
      const why = e instanceof JsonSyntaxError ? e.message : "unreadable";
      if (res.status >= 200 && res.status < 300) {
        throw rejected(
          `vault ${req.method} ${req.path}: HTTP ${res.status} body is not JSON (${why})`,
        );
      }
      json = undefined;
    } finally {
      body.fill(0);
    }
    return { status: res.status, json, raw: undefined, errors: errorsOf(json) };
  }

  /** Releases the TLS client. */
  close(): void {
    this.#client?.close();
  }
}

class TransportError extends Error {}
class CapError extends Error {}

/**
 * A transport failure for the log. `fetch` says only "fetch failed"; the
 * reason (refused, DNS, an untrusted certificate) is in its `cause`, whose
 * URL is dropped (the detail names the request already).
 */
function describe(e: unknown, signal: AbortSignal): string {
  if (signal.aborted) return "timed out";
  if (!(e instanceof Error)) return "transport failure";
  const cause = e.cause instanceof Error
    ? `: ${e.cause.message.replace(/ for url \([^)]*\)/, "")}`
    : "";
  return clip(`${e.name}: ${e.message}${cause}`);
}

/** The `errors` array of an error body, as strings (non-strings skipped). */
function errorsOf(json: JsonValue | undefined): string[] {
  const errs = member(json, "errors");
  if (!Array.isArray(errs)) return [];
  const dec = new TextDecoder();
  const out: string[] = [];
  for (const e of errs) {
    if (e !== null && typeof e === "object" && "bytes" in e) out.push(dec.decode(e.bytes));
  }
  return out;
}

/** Reads the whole body, refusing more than `cap` bytes. */
async function readCapped(res: Response, cap: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel();
    throw new CapError();
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      parts.push(value);
      if (total > cap) {
        await reader.cancel();
        throw new CapError();
      }
    }
  } catch (e) {
    for (const p of parts) p.fill(0);
    throw e;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
    p.fill(0);
  }
  return out;
}
