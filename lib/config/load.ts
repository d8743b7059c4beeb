/**
 * Agent configuration loader: TOML (kebab-case keys, unknown keys rejected in
 * every table) merged with overrides, then validated. Relative paths in the
 * file resolve against the file's directory; every path in the result is
 * absolute. Errors name the file, the key and the reason.
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { fieldError, InputError } from "../core/errors.ts";
import { parseOrThrow } from "../core/validate.ts";
import { DEFAULT_METRICS_LISTEN, parseLogging, parseMetrics } from "./observability.ts";
import { DEFAULT_MAX_CERT_TTL_SECS, DEFAULT_MAX_SIZE, DEFAULT_SOCKET } from "./schema.ts";
import type { AgentConfig, ConfigOverrides, InvocationConfig } from "./schema.ts";

const TOKEN = "config_invalid";

const U64 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const U32 = z.number().int().min(0).max(0xffffffff);
const Size = z.number().int().min(1).max(64 * 1024 * 1024);

const Doc = z.strictObject({
  catalog: z.string().optional(),
  policy: z.string().optional(),
  bundle: z.string().optional(),
  socket: z.string().min(1).optional(),
  "socket-mode": z.union([z.string(), z.number().int()]).optional(),
  "socket-group": z.union([z.string().min(1), z.number().int().min(0)]).optional(),
  "vault-addr": z.string().optional(),
  // Extensions: the CA file for https backends, and the per-request timeout.
  "vault-ca-file": z.string().min(1).optional(),
  "vault-timeout-ms": z.number().int().min(100).max(300_000).optional(),
  "transit-mount": z.string().min(1).optional(),
  "jwt-auth-mount": z.string().min(1).optional(),
  "jwt-role": z.string().optional(),
  "jwt-audience": z.string().optional(),
  "svid-ttl-secs": z.number().int().min(10).max(31 * 24 * 3600).optional(),
  "capability-policy": z.enum(["strict", "degraded", "off"]).optional(),
  "db-keystore-cipher": z.string().optional(),
  "onepassword-provider-uri": z.string().optional(),
  "onepassword-project": z.string().optional(),
  "onepassword-profile": z.string().optional(),
  "max-encrypt-size": Size.optional(),
  "max-payload-size": Size.optional(),
  "max-cert-ttl-secs": z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  "grace-versions": U32.optional(),
  "retain-versions": z.number().int().min(1).max(0xffffffff).optional(),
  "retention-sweep-secs": U64.optional(),
  "audit-log": z.string().min(1).optional(),
  // Extension: when an audit line is fsynced (lib/audit/durability.ts).
  "audit-fsync": z.enum(["always", "batch", "never"]).optional(),
  "no-reconcile": z.boolean().optional(),
  unlock: z.strictObject({
    "age-yubikey": z.boolean().optional(),
    "bip39-phrase-file": z.string().min(1).optional(),
    "unlock-tpm": z.boolean().optional(),
    "unlock-passphrase-file": z.string().min(1).optional(),
    "unlock-passphrase-no-wipe": z.boolean().optional(),
    "strict-bundle-perms": z.boolean().optional(),
    // Extension: the TPM's TCTI (default: device:/dev/tpmrm0, then /dev/tpm0).
    "tpm-tcti": z.string().min(1).optional(),
  }).optional(),
  "broker-identity": z.strictObject({
    id: z.string(),
    "response-signing-key-id": z.string(),
  }).optional(),
  invocation: z.strictObject({
    enable: z.boolean().optional(),
    audience: z.array(z.string()).optional(),
    "request-encryption-key-id": z.string().optional(),
    "max-ttl-secs": z.number().int().min(1).max(300).optional(),
    "clock-skew-secs": z.number().int().min(0).max(300).optional(),
    "replay-cache-capacity": z.number().int().min(1).max(1_000_000).optional(),
  }).optional(),
  jwks: z.strictObject({
    enable: z.boolean().optional(),
    listen: z.string().optional(),
    issuer: z.string().optional(),
    tls: z.strictObject({
      enable: z.boolean().optional(),
      "cert-file": z.string().optional(),
      "key-file": z.string().optional(),
    }).optional(),
  }).optional(),
  // Extension: the opt-in Prometheus endpoint (lib/metrics/server.ts).
  metrics: z.strictObject({
    enable: z.boolean().optional(),
    listen: z.string().optional(),
    "allow-non-loopback": z.boolean().optional(),
    "subject-labels": z.boolean().optional(),
  }).optional(),
  logging: z.strictObject({
    stdout: z.strictObject({ enable: z.boolean().optional() }).optional(),
    journald: z.strictObject({
      enable: z.boolean().optional(),
      // Extension: the journal's native socket (a journald namespace's, say).
      socket: z.string().min(1).optional(),
    }).optional(),
    file: z.strictObject({
      enable: z.boolean().optional(),
      dir: z.string().min(1).optional(),
      path: z.string().min(1).optional(),
      prefix: z.string().optional(),
      rotation: z.enum(["none", "hourly", "daily", "weekly"]).optional(),
      // Extensions: rotate at this size too, and keep this many rotated files.
      "max-size": z.number().int().min(4096).max(Number.MAX_SAFE_INTEGER).optional(),
      keep: z.number().int().min(1).max(1000).optional(),
      mode: z.enum(["0600", "0640"]).optional(),
    }).optional(),
    opentelemetry: z.strictObject({
      enable: z.boolean().optional(),
      endpoint: z.string().optional(),
      protocol: z.enum(["grpc", "http-binary", "http-json"]).optional(),
    }).optional(),
    level: z.enum(["debug", "info", "warn", "error"]).optional(),
  }).optional(),
});

type ConfigDoc = z.infer<typeof Doc>;

/**
 * Parses a `socket-mode` value: an octal string (`"0660"`, `"0o660"`, `"660"`)
 * or an integer taken as is (TOML `0o660`, or decimal `432`), never re-read
 * as octal. Only permission bits are accepted (at most 0o777; the contract
 * allows up to 07777, but setuid/setgid/sticky bits mean nothing on a socket),
 * which also rejects the common mistake `socket-mode = 600` (decimal, 0o1130).
 */
export function parseSocketMode(v: string | number, file: string): number {
  const forms = 'in TOML write 0o600 or the string "0600"';
  let mode: number;
  if (typeof v === "number") mode = v;
  else {
    const m = /^(?:0o|0)?([0-7]{1,4})$/.exec(v.trim());
    if (!m) {
      throw fieldError(
        TOKEN,
        file,
        "socket-mode",
        `must be an octal string like "0660" (${forms})`,
      );
    }
    mode = parseInt(m[1]!, 8);
  }
  if (!Number.isInteger(mode) || mode < 0) {
    throw fieldError(TOKEN, file, "socket-mode", `must be a mode from 0 to 0o777 (${forms})`);
  }
  if (mode > 0o777) {
    const decimal = typeof v === "number"
      ? `; the integer ${v} is decimal, i.e. 0o${v.toString(8)}`
      : "";
    throw fieldError(
      TOKEN,
      file,
      "socket-mode",
      `must be at most 0o777 (permission bits only)${decimal}; ${forms}`,
    );
  }
  return mode;
}

function parseListen(
  v: string,
  file: string,
  field = "jwks.listen",
  example = "127.0.0.1:8201",
): { host: string; port: number } {
  const bad = () => fieldError(TOKEN, file, field, `must be "ip:port", e.g. "${example}"`);
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) throw bad();
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad();
  if (m[1] !== undefined) {
    if (!/^[0-9a-fA-F:.]+$/.test(m[1]) || !canParseUrl(`http://[${m[1]}]/`)) throw bad();
    return { host: m[1], port };
  }
  const host = m[2]!;
  if (host !== "localhost" && !isDottedQuad(host)) throw bad();
  return { host, port };
}

function canParseUrl(u: string): boolean {
  try {
    new URL(u);
    return true;
  } catch {
    return false;
  }
}

function isDottedQuad(h: string): boolean {
  const parts = h.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** Cloud metadata and link-local hosts an issuer URL must never point at. */
function isMetadataOrLinkLocal(hostname: string): boolean {
  let h = hostname.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  h = h.replace(/\.+$/, "");
  if (h === "metadata.google.internal" || h === "metadata") return true;
  const v4 = (a: string) => a.startsWith("169.254.") || a === "100.100.100.200";
  if (isDottedQuad(h)) return v4(h);
  if (!h.includes(":")) return false;
  // IPv4-mapped/-compatible forms are serialized as hex by the URL parser.
  const mapped = /^::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    if (v4(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`)) return true;
  }
  if (/^::(?:ffff:)?\d+\.\d+\.\d+\.\d+$/.test(h)) return v4(h.replace(/^::(?:ffff:)?/, ""));
  const first = h.startsWith(":") ? 0 : parseInt(h.split(":")[0]!, 16);
  return first >= 0xfe80 && first <= 0xfebf; // fe80::/10
}

function checkIssuer(v: string, file: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw fieldError(TOKEN, file, "jwks.issuer", "must be an absolute http(s) URL");
  }
  const authority = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(v)?.[1];
  if (
    (url.protocol !== "https:" && url.protocol !== "http:") || authority === undefined ||
    authority.includes("@") || url.username !== "" || url.password !== "" || v.includes("#") ||
    isMetadataOrLinkLocal(url.hostname)
  ) {
    throw fieldError(
      TOKEN,
      file,
      "jwks.issuer",
      "must be an http(s) URL without userinfo or fragment, not a metadata or link-local host",
    );
  }
  return v.replace(/\/+$/, "");
}

/** Whether a URL's authority carries userinfo (`scheme://user:pass@host`). */
function hasUserinfo(v: string): boolean {
  const rest = v.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, "");
  return /^[^/?#]*@/.test(rest);
}

/** `basil://host/non-empty-path`, no userinfo, query or fragment (contract §1). */
function isBrokerId(v: string): boolean {
  return /^basil:\/\/[A-Za-z0-9.-]+(?::\d+)?\/[^?#\s]*[^/?#\s][^?#\s]*$/.test(v);
}

/** Resolves `p` against `base` unless absolute. */
function absolute(p: string, base: string): string {
  if (p.startsWith("/")) return normalize(p);
  return normalize(`${base}/${p}`);
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** Options for {@linkcode loadAgentConfig}. */
export interface LoadConfigOptions {
  /** TOML text and its path, when a config file is used. */
  file?: { path: string; text: string };
  overrides?: ConfigOverrides;
  /** Base for relative override paths (the caller's cwd). */
  cwd: string;
}

/** Parses, merges and validates the agent configuration. */
export function loadAgentConfig(options: LoadConfigOptions): AgentConfig {
  const filePath = options.file ? absolute(options.file.path, options.cwd) : undefined;
  const label = filePath ?? "agent configuration";
  let raw: unknown = {};
  if (options.file) {
    try {
      raw = parseToml(options.file.text);
    } catch (e) {
      // smol-toml's TomlError carries the position; its message quotes the
      // offending text, which may be a secret, so only the line is reported.
      const line = (e as { line?: unknown }).line;
      const where = typeof line === "number" && line > 0 ? ` at line ${line}` : "";
      throw new InputError(TOKEN, `${label}: malformed TOML${where}`);
    }
  }
  const doc: ConfigDoc = parseOrThrow(Doc, raw, label, TOKEN);
  const fileBase = filePath ? filePath.slice(0, filePath.lastIndexOf("/")) || "/" : options.cwd;
  const o = options.overrides ?? {};
  const pick = (field: "catalog" | "policy" | "bundle"): string => {
    const ov = o[field];
    if (ov !== undefined && ov !== "") return absolute(ov, options.cwd);
    const v = doc[field];
    if (v === undefined || v.trim() === "") {
      throw new InputError(
        TOKEN,
        `${label}: ${field}: required (set it in the file, with --${field} or BASIL_${field.toUpperCase()})`,
      );
    }
    return absolute(v, fileBase);
  };
  const fileAbs = (v: string | undefined) => v === undefined ? undefined : absolute(v, fileBase);

  const logging = parseLogging(doc.logging ?? {}, label, (p) => absolute(p, fileBase));
  const metrics = parseMetrics(
    doc.metrics ?? {},
    label,
    (v, field) => parseListen(v, label, field, DEFAULT_METRICS_LISTEN),
  );
  const jwks = doc.jwks ?? {};
  const listen = parseListen(jwks.listen ?? "127.0.0.1:8201", label);
  const invocation = parseInvocation(doc.invocation ?? {}, doc["broker-identity"], label);
  const brokerId = doc["broker-identity"]?.id;
  if (brokerId !== undefined && !isBrokerId(brokerId)) {
    throw fieldError(
      TOKEN,
      label,
      "broker-identity.id",
      'must be "basil://<host>/<path>" without userinfo, query or fragment',
    );
  }
  if (jwks.tls?.enable && (!jwks.tls["cert-file"] || !jwks.tls["key-file"])) {
    throw fieldError(TOKEN, label, "jwks.tls", "cert-file and key-file are required when enabled");
  }
  const vaultAddr = o.vaultAddr !== undefined && o.vaultAddr !== ""
    ? o.vaultAddr
    : doc["vault-addr"] ?? "http://127.0.0.1:8200";
  if (hasUserinfo(vaultAddr)) {
    // The launcher passes it to the agent as an argument (world-readable in
    // /proc/PID/cmdline); Vault credentials come from the bundle, never the URL.
    throw fieldError(
      TOKEN,
      label,
      "vault-addr",
      "must not carry credentials (user:password@); Vault credentials belong in the bundle",
    );
  }
  const unlock = doc.unlock ?? {};
  const graceVersions = doc["grace-versions"] ?? 1;
  const retainVersions = doc["retain-versions"];
  if (retainVersions !== undefined && retainVersions < graceVersions + 1) {
    // grace-versions keeps the newest and `grace` older versions usable; the
    // sweep keeps only the newest `retain`, so it would prune versions the
    // grace window still accepts.
    throw fieldError(
      TOKEN,
      label,
      "retain-versions",
      `${retainVersions} is less than grace-versions + 1 (${graceVersions + 1}): ` +
        "the retention sweep would prune versions that grace-versions still accepts; " +
        "raise retain-versions or lower grace-versions",
    );
  }
  const socket = o.socket !== undefined && o.socket !== ""
    ? absolute(o.socket, options.cwd)
    : absolute(doc.socket ?? DEFAULT_SOCKET, fileBase);
  if (new TextEncoder().encode(socket).length > 107) {
    throw fieldError(TOKEN, label, "socket", "path is longer than the 107-byte unix socket limit");
  }
  return {
    configFile: filePath,
    catalog: pick("catalog"),
    policy: pick("policy"),
    bundle: pick("bundle"),
    socket,
    socketMode: doc["socket-mode"] === undefined
      ? 0o600
      : parseSocketMode(doc["socket-mode"], label),
    socketGroup: doc["socket-group"],
    vaultAddr,
    // Extensions, present only when set (absent = the built-in roots, 10 s).
    ...(doc["vault-ca-file"] === undefined ? {} : { vaultCaFile: fileAbs(doc["vault-ca-file"]) }),
    ...(doc["vault-timeout-ms"] === undefined ? {} : { vaultTimeoutMs: doc["vault-timeout-ms"] }),
    transitMount: doc["transit-mount"] ?? "transit",
    jwtAuthMount: doc["jwt-auth-mount"] ?? "jwt",
    jwtRole: doc["jwt-role"] ?? "",
    jwtAudience: doc["jwt-audience"] ?? "openbao",
    svidTtlSecs: doc["svid-ttl-secs"] ?? 300,
    capabilityPolicy: doc["capability-policy"] ?? "strict",
    maxEncryptSize: doc["max-encrypt-size"] ?? DEFAULT_MAX_SIZE,
    maxPayloadSize: doc["max-payload-size"] ?? DEFAULT_MAX_SIZE,
    maxCertTtlSecs: doc["max-cert-ttl-secs"] ?? DEFAULT_MAX_CERT_TTL_SECS,
    graceVersions,
    retainVersions,
    retentionSweepSecs: doc["retention-sweep-secs"] ?? 3600,
    auditLog: fileAbs(doc["audit-log"]),
    auditFsync: doc["audit-fsync"] ?? "always",
    noReconcile: doc["no-reconcile"] ?? false,
    unlock: {
      ageYubikey: unlock["age-yubikey"] ?? false,
      bip39PhraseFile: fileAbs(unlock["bip39-phrase-file"]),
      unlockTpm: unlock["unlock-tpm"] ?? false,
      passphraseFile: fileAbs(unlock["unlock-passphrase-file"]),
      passphraseNoWipe: unlock["unlock-passphrase-no-wipe"] ?? false,
      strictBundlePerms: unlock["strict-bundle-perms"] ?? false,
      tpmTcti: unlock["tpm-tcti"],
    },
    jwks: {
      enable: jwks.enable ?? false,
      listen,
      issuer: jwks.issuer === undefined ? undefined : checkIssuer(jwks.issuer, label),
      tls: {
        enable: jwks.tls?.enable ?? false,
        certFile: fileAbs(jwks.tls?.["cert-file"]),
        keyFile: fileAbs(jwks.tls?.["key-file"]),
      },
    },
    logging,
    metrics,
    invocation,
  };
}

/**
 * `[invocation]` and `[broker-identity]` (contract §1): audiences trimmed,
 * sorted, deduped, each a `basil://` URI; enabling needs at least one
 * audience, a broker identity and a request-encryption key (the catalog
 * bindings are checked at startup, lib/broker/invoke_bindings.ts).
 */
function parseInvocation(
  inv: {
    enable?: boolean;
    audience?: string[];
    "request-encryption-key-id"?: string;
    "max-ttl-secs"?: number;
    "clock-skew-secs"?: number;
    "replay-cache-capacity"?: number;
  },
  identity: { id: string; "response-signing-key-id": string } | undefined,
  label: string,
): InvocationConfig {
  const audiences = [...new Set((inv.audience ?? []).map((a) => a.trim()))].sort();
  audiences.forEach((a, i) => {
    if (!a.startsWith("basil://") || !canParseUrl(a)) {
      throw fieldError(TOKEN, label, `invocation.audience[${i}]`, 'must be a "basil://" URI');
    }
  });
  const enable = inv.enable ?? false;
  const requestKey = inv["request-encryption-key-id"];
  if (enable) {
    if (audiences.length === 0) {
      throw fieldError(TOKEN, label, "invocation.audience", "at least one audience is required");
    }
    if (!identity) {
      throw fieldError(TOKEN, label, "broker-identity", "required when [invocation] is enabled");
    }
    if (!requestKey) {
      throw fieldError(
        TOKEN,
        label,
        "invocation.request-encryption-key-id",
        "required when [invocation] is enabled",
      );
    }
  }
  return {
    enable,
    audiences,
    requestEncryptionKeyId: requestKey,
    maxTtlSecs: inv["max-ttl-secs"] ?? 60,
    clockSkewSecs: inv["clock-skew-secs"] ?? 30,
    replayCacheCapacity: inv["replay-cache-capacity"] ?? 4096,
    brokerId: identity?.id,
    responseSigningKeyId: identity?.["response-signing-key-id"],
  };
}
