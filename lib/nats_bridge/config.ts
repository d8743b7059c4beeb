/**
 * The NATS bridge's TOML configuration (contract §11.5): `[nats] url,
 * creds?`, `[basil] socket`, `[bridge] request-subject, queue-group?,
 * max-message-bytes, concurrency-limit`. Kebab-case keys, unknown keys
 * rejected in every table, errors name the file and the field. Relative
 * paths resolve against the file's directory.
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { fieldError, InputError } from "../core/errors.ts";
import { parseOrThrow } from "../core/validate.ts";

const TOKEN = "config_invalid";

/** Largest `bridge.max-message-bytes` accepted (upstream's bound). */
export const MAX_MESSAGE_BYTES_LIMIT = 64 * 1024 * 1024;
/** Largest `bridge.concurrency-limit` accepted (upstream's bound). */
export const MAX_CONCURRENCY_LIMIT = 256;
/** Per-call deadline towards the agent when `basil.timeout-ms` is not set. */
export const DEFAULT_TIMEOUT_MS = 30_000;

const Doc = z.strictObject({
  nats: z.strictObject({
    url: z.string(),
    creds: z.string().min(1).optional(),
  }),
  basil: z.strictObject({
    socket: z.string().min(1),
    // Extension: the deadline of one Invoke call (contract: 30 s, fixed).
    "timeout-ms": z.number().int().min(100).max(300_000).optional(),
  }),
  bridge: z.strictObject({
    "request-subject": z.string(),
    "queue-group": z.string().optional(),
    "max-message-bytes": z.number().int().min(1).max(MAX_MESSAGE_BYTES_LIMIT),
    "concurrency-limit": z.number().int().min(1).max(MAX_CONCURRENCY_LIMIT),
  }),
});

/** A validated bridge configuration. */
export interface BridgeConfig {
  /** The NATS server URLs (`nats://` or `tls://`, comma-separated in the file). */
  readonly natsServers: readonly string[];
  /** The bridge's own `.creds` file (absolute), if any. */
  readonly creds: string | undefined;
  /** The agent's unix socket (absolute). */
  readonly socket: string;
  /** Deadline of one Invoke call, in ms. */
  readonly timeoutMs: number;
  /** The one concrete subject the bridge serves. */
  readonly requestSubject: string;
  /** Queue group shared by bridge replicas, if any. */
  readonly queueGroup: string | undefined;
  /** Payloads above this are refused with MESSAGE_TOO_LARGE. */
  readonly maxMessageBytes: number;
  /** Invoke calls in flight at once; more messages wait their turn. */
  readonly concurrencyLimit: number;
}

/** NATS subject token rules: no whitespace, no empty token. */
const TOKEN_RE = /^[^\s.]+$/;

/** A concrete publish/subscribe subject: dot-separated tokens, no wildcards. */
export function isConcreteSubject(s: string): boolean {
  if (s === "" || s.length > 1024) return false;
  return s.split(".").every((t) => TOKEN_RE.test(t) && t !== "*" && t !== ">" && !/[*>]/.test(t));
}

function absolute(p: string, base: string): string {
  return p.startsWith("/") ? p : `${base}/${p}`;
}

function servers(url: string, file: string): string[] {
  const field = "nats.url";
  const list = url.split(",").map((u) => u.trim());
  if (list.length === 0 || list.some((u) => u === "")) {
    throw fieldError(TOKEN, file, field, "must not be empty");
  }
  for (const u of list) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw fieldError(TOKEN, file, field, 'must be a URL such as "nats://127.0.0.1:4222"');
    }
    if (parsed.protocol !== "nats:" && parsed.protocol !== "tls:") {
      throw fieldError(TOKEN, file, field, "scheme must be nats:// or tls://");
    }
    if (parsed.username !== "" || parsed.password !== "") {
      throw fieldError(TOKEN, file, field, "must not carry credentials (use nats.creds)");
    }
    if (parsed.hostname === "" || parsed.pathname.replace(/^\/$/, "") !== "") {
      throw fieldError(TOKEN, file, field, "must be scheme://host[:port] and nothing more");
    }
  }
  return list;
}

/** Parses and validates the bridge configuration text of `path`. */
export function parseBridgeConfig(text: string, path: string): BridgeConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    // smol-toml quotes the offending text; report only the line.
    const line = (e as { line?: unknown }).line;
    const where = typeof line === "number" && line > 0 ? ` at line ${line}` : "";
    throw new InputError(TOKEN, `${path}: malformed TOML${where}`);
  }
  const doc = parseOrThrow(Doc, raw, path, TOKEN);
  const base = path.slice(0, path.lastIndexOf("/")) || "/";
  const subject = doc.bridge["request-subject"].trim();
  if (!isConcreteSubject(subject)) {
    throw fieldError(
      TOKEN,
      path,
      "bridge.request-subject",
      "must be one concrete NATS subject (dot-separated tokens, no wildcards or spaces)",
    );
  }
  const group = doc.bridge["queue-group"]?.trim();
  if (group !== undefined && !/^[^\s*>]+$/.test(group)) {
    throw fieldError(TOKEN, path, "bridge.queue-group", "must be one token without spaces");
  }
  return {
    natsServers: servers(doc.nats.url, path),
    creds: doc.nats.creds === undefined ? undefined : absolute(doc.nats.creds, base),
    socket: absolute(doc.basil.socket, base),
    timeoutMs: doc.basil["timeout-ms"] ?? DEFAULT_TIMEOUT_MS,
    requestSubject: subject,
    queueGroup: group,
    maxMessageBytes: doc.bridge["max-message-bytes"],
    concurrencyLimit: doc.bridge["concurrency-limit"],
  };
}

/** Reads and parses the bridge configuration file at `path` (absolute). */
export async function loadBridgeConfig(path: string): Promise<BridgeConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : "cannot be read";
    throw new InputError(TOKEN, `${path}: ${why}`);
  }
  return parseBridgeConfig(text, path);
}
