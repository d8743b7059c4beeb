/**
 * The agent's Deno permission set, derived from what its config names and
 * nothing else. The agent process runs under exactly these flags, so even a
 * compromised broker cannot read or write a file, open a socket or load a
 * library its config did not name. This is the one place the agent's flags
 * are defined; the CLI's own flags live in deno.json's `basil` task.
 * @module
 */

import type { Catalog } from "../catalog/schema.ts";
import type { AgentConfig } from "../config/schema.ts";

/** Environment variables grpc-js reads when imported. */
export const GRPC_ENV: readonly string[] = [
  "GRPC_TRACE",
  "GRPC_VERBOSITY",
  "GRPC_NODE_TRACE",
  "GRPC_NODE_VERBOSITY",
  "GRPC_SSL_CIPHER_SUITES",
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "GRPC_NODE_USE_ALTERNATIVE_RESOLVER",
  "GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
  "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS",
  "grpc_proxy",
  "http_proxy",
  "https_proxy",
  "no_grpc_proxy",
  "no_proxy",
];

/** Native libraries the agent may load. */
export interface NativeLibs {
  readonly libc: string;
  /** libtss2 libraries, only when the TPM slot is enabled. */
  readonly tss2?: readonly string[];
}

/** An agent's permissions, by kind. */
export interface AgentPermissions {
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly net: readonly string[];
  readonly ffi: readonly string[];
  readonly env: readonly string[];
  /** Programs the agent may run (only the age plugin, when configured). */
  readonly run: readonly string[];
}

const SQLITE_COMPANIONS = ["", "-wal", "-shm", "-journal"];

function uniq(xs: readonly (string | undefined)[]): string[] {
  return [...new Set(xs.filter((x): x is string => x !== undefined && x !== ""))].sort();
}

/** Derives the permission set for a config and its catalog. */
export function agentPermissions(
  cfg: AgentConfig,
  catalog: Catalog,
  libs: NativeLibs,
): AgentPermissions {
  const keystoreFiles: string[] = [];
  for (const b of catalog.backends.values()) {
    if (b.kind !== "keystore" || !b.addr.startsWith("/")) continue;
    for (const suffix of SQLITE_COMPANIONS) keystoreFiles.push(b.addr + suffix);
  }
  const epoch = `${cfg.bundle}.epoch`;
  const secretFiles = [cfg.unlock.passphraseFile, cfg.unlock.bip39PhraseFile];
  // Unlock files the agent wipes (zeroes and unlinks) once read. The BIP-39
  // phrase file is always wiped; the passphrase file only without
  // `unlock-passphrase-no-wipe`, so with it the agent may read it but never write it.
  const wipedFiles = [
    cfg.unlock.passphraseNoWipe ? undefined : cfg.unlock.passphraseFile,
    cfg.unlock.bip39PhraseFile,
  ];
  const write = uniq([
    cfg.socket,
    epoch,
    `${epoch}.tmp`,
    ...wipedFiles,
    ...keystoreFiles,
    cfg.auditLog,
  ]);
  // Everything writable is readable too (rename and SQLite need both).
  const read = uniq([
    ...write,
    cfg.configFile,
    ...(cfg.jwks.enable && cfg.jwks.tls.enable
      ? [cfg.jwks.tls.certFile, cfg.jwks.tls.keyFile]
      : []),
    cfg.catalog,
    cfg.policy,
    cfg.bundle,
    epoch,
    ...secretFiles,
    ...keystoreFiles,
    cfg.auditLog,
    cfg.socket,
    "/etc/passwd",
    "/etc/group",
  ]);
  return {
    read,
    write,
    net: [
      `unix:${cfg.socket}`,
      ...(cfg.jwks.enable ? [`${hostForFlag(cfg.jwks.listen.host)}:${cfg.jwks.listen.port}`] : []),
    ],
    ffi: uniq([libs.libc, ...(libs.tss2 ?? [])]),
    env: [...GRPC_ENV],
    run: cfg.unlock.ageYubikey ? ["age-plugin-yubikey"] : [],
  };
}

function hostForFlag(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** The `deno run` flags for a permission set. `--no-prompt` makes every gap an error. */
export function toDenoFlags(p: AgentPermissions): string[] {
  const flag = (name: string, xs: readonly string[]) =>
    xs.length === 0 ? [] : [`--allow-${name}=${xs.join(",")}`];
  for (const x of [...p.read, ...p.write, ...p.net, ...p.ffi]) {
    if (x.includes(",")) throw new RangeError(`Cannot grant a path containing a comma: ${x}`);
  }
  return [
    "--no-prompt",
    ...flag("read", p.read),
    ...flag("write", p.write),
    ...flag("net", p.net),
    ...flag("ffi", p.ffi),
    ...flag("env", p.env),
    ...flag("run", p.run),
  ];
}
