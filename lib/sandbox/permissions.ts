/**
 * The agent's Deno permission set, derived from what its config names and
 * nothing else, and the part of it the agent gives up once started. This is
 * the one place the agent's flags are defined; the CLI's own flags live in
 * deno.json's `basil` task.
 *
 * What the sandbox guarantees once the agent serves (README "Sandbox"): it
 * cannot read a file outside its read list (config, catalog, policy, the
 * keystore, /etc/passwd and /etc/group), write outside its write list
 * (socket, keystore, audit log, the `[logging.file]` directory), connect
 * anywhere but its own socket, the JWKS listener and the metrics listener
 * (only with `[metrics] enable`), run any program but the age plugin (at
 * start only) and, with a 1Password backend, the `op` the launcher resolved
 * on PATH (kept after start: every 1Password read runs it), read any
 * environment variable but, with an aws-kms backend, those the AWS SDK's
 * credential chain reads (backends/aws_kms/access.ts), or load a native library: ffi is revoked at start
 * (main.ts) and the start-up-only files ({@linkcode startupOnly}) right after
 * the socket is bound.
 *
 * Why `--allow-ffi` is not scoped to the library paths: Deno creates an FFI
 * callback (`Deno.UnsafeCallback`, which libnghttp2 needs) only under the
 * process-wide grant (deno_permissions `check_partial_no_path` requires
 * `granted_global`). So the agent starts with the grant, opens exactly the
 * libraries the launcher resolved ({@linkcode AgentPermissions.ffi}), and
 * revokes ffi before reading its config; no input has been read while it
 * held it.
 * @module
 */

import {
  AWS_SDK_ENV,
  awsFiles,
  awsNetHosts,
  type EnvReader,
  parseAwsKmsAddr,
  processEnv,
} from "../backends/aws_kms/access.ts";
import { gcpAccess } from "../backends/gcp_kms/access.ts";
import type { Catalog } from "../catalog/schema.ts";
import type { AgentConfig } from "../config/schema.ts";

/** Native libraries the agent opens at start (then ffi is revoked). */
export interface NativeLibs {
  readonly libc: string;
  readonly nghttp2: string;
  /** libtss2 libraries, only when the TPM slot is enabled. */
  readonly tss2?: readonly string[];
}

/** An agent's permissions, by kind. */
export interface AgentPermissions {
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly net: readonly string[];
  /** The libraries main.ts opens before it revokes ffi (the flag itself is process-wide, see above). */
  readonly ffi: readonly string[];
  readonly env: readonly string[];
  /** Programs the agent may run (the age plugin when configured, `op` with a 1Password backend). */
  readonly run: readonly string[];
}

/** Programs the launcher resolved to absolute paths for the agent. */
export interface ResolvedPrograms {
  /** The 1Password CLI, found as `op` on the launcher's PATH. */
  readonly op?: string;
}

/**
 * Whether the catalog has a 1Password backend: a `keystore` backend whose
 * `addr` is a `onepassword://` or `onepassword+token://` URI (the bundle
 * credential that says so is only unlocked inside the agent).
 */
export function hasOnePassword(catalog: Catalog): boolean {
  return [...catalog.backends.values()].some((b) =>
    b.kind === "keystore" && /^onepassword(\+token)?:\/\//.test(b.addr)
  );
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
  programs: ResolvedPrograms = {},
  getEnv: EnvReader = processEnv,
): AgentPermissions {
  const aws = awsAccess(catalog, getEnv);
  const gcp = gcpAccess(catalog, getEnv);
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
    cfg.logging.file?.dir,
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
    ...(hasVault(catalog) ? [cfg.vaultCaFile] : []),
    epoch,
    ...secretFiles,
    ...keystoreFiles,
    cfg.auditLog,
    cfg.socket,
    // Only to see whether the journal socket exists: entries go through
    // libc sendto (ffi/libc.ts), outside Deno's net permission.
    cfg.logging.journald?.enable ? cfg.logging.journald.socket : undefined,
    "/etc/passwd",
    "/etc/group",
    ...aws.read,
    ...gcp.read,
  ]);
  return {
    read,
    write,
    net: [
      `unix:${cfg.socket}`,
      ...vaultHosts(cfg, catalog),
      ...aws.net,
      ...gcp.net,
      ...(cfg.jwks.enable ? [`${hostForFlag(cfg.jwks.listen.host)}:${cfg.jwks.listen.port}`] : []),
      ...(cfg.metrics?.enable
        ? [`${hostForFlag(cfg.metrics.listen.host)}:${cfg.metrics.listen.port}`]
        : []),
    ],
    ffi: uniq([libs.libc, libs.nghttp2, ...(libs.tss2 ?? [])]),
    env: [...aws.env, ...gcp.env],
    run: uniq([
      cfg.unlock.ageYubikey ? "age-plugin-yubikey" : undefined,
      hasOnePassword(catalog) ? programs.op : undefined,
    ]),
  };
}

/**
 * What aws-kms backends need (backends/aws_kms/access.ts): the variables the
 * AWS SDK's default chain reads, the shared config/credentials and
 * web-identity files, and the KMS endpoint, STS (web identity only) and IMDS
 * (only without static or web-identity credentials) hosts.
 */
function awsAccess(
  catalog: Catalog,
  env: EnvReader,
): { read: string[]; net: string[]; env: string[] } {
  const backends = [...catalog.backends.values()].filter((b) => b.kind === "aws-kms");
  if (backends.length === 0) return { read: [], net: [], env: [] };
  return {
    read: awsFiles(env),
    net: uniq(backends.flatMap((b) => awsNetHosts(parseAwsKmsAddr(b.addr), env))),
    env: [...AWS_SDK_ENV],
  };
}

function hasVault(catalog: Catalog): boolean {
  return [...catalog.backends.values()].some((b) => b.kind === "vault");
}

/**
 * `host:port` of every vault backend's catalog `addr` and of `vault-addr`
 * (the bundle, which may pin a credential `addr`, is only unlocked inside
 * the agent, so the agent refuses an `addr` outside these two).
 */
function vaultHosts(cfg: AgentConfig, catalog: Catalog): string[] {
  if (!hasVault(catalog)) return [];
  const hosts: string[] = [];
  for (
    const addr of [
      cfg.vaultAddr,
      ...[...catalog.backends.values()].filter((b) => b.kind === "vault").map((b) => b.addr),
    ]
  ) {
    try {
      const u = new URL(addr);
      if (u.protocol !== "http:" && u.protocol !== "https:") continue;
      hosts.push(
        `${u.hostname}:${u.port === "" ? (u.protocol === "https:" ? "443" : "80") : u.port}`,
      );
    } catch {
      // not a URL: the agent refuses it at start with a clear error
    }
  }
  return uniq(hosts);
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
    ...(p.ffi.length === 0 ? [] : ["--allow-ffi"]),
    ...flag("env", p.env),
    ...flag("run", p.run),
  ];
}

/**
 * Paths the agent needs only while starting (unlock files, the bundle and
 * its epoch sidecar, the config and JWKS TLS files): it revokes them once
 * the socket is bound. Hot reload re-reads only the catalog and policy.
 */
export function startupOnly(
  cfg: AgentConfig,
): { read: string[]; write: string[]; run: string[] } {
  const epoch = `${cfg.bundle}.epoch`;
  const keep = new Set([cfg.catalog, cfg.policy, cfg.socket, cfg.auditLog]);
  const drop = (xs: readonly (string | undefined)[]) => uniq(xs).filter((x) => !keep.has(x));
  return {
    read: drop([
      cfg.configFile,
      cfg.bundle,
      epoch,
      `${epoch}.tmp`,
      cfg.unlock.passphraseFile,
      cfg.unlock.bip39PhraseFile,
      ...(cfg.jwks.enable && cfg.jwks.tls.enable
        ? [cfg.jwks.tls.certFile, cfg.jwks.tls.keyFile]
        : []),
    ]),
    write: drop([
      epoch,
      `${epoch}.tmp`,
      cfg.unlock.passphraseNoWipe ? undefined : cfg.unlock.passphraseFile,
      cfg.unlock.bip39PhraseFile,
    ]),
    run: cfg.unlock.ageYubikey ? ["age-plugin-yubikey"] : [],
  };
}
