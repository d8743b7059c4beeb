/**
 * The validated agent configuration (contract §1, with the seeds' default
 * socket under /run). Produced only by `loadAgentConfig`.
 * @module
 */

/** Default listen path: the seeds' `/run/basil/basil.sock`, not `/tmp`. */
export const DEFAULT_SOCKET = "/run/basil/basil.sock";
/** Default cap for encrypt/decrypt-style payloads and for other payloads. */
export const DEFAULT_MAX_SIZE = 1024 * 1024;
/**
 * Default `max-cert-ttl-secs` (extension): the longest lifetime
 * IssueCertificate grants a TLS leaf, 24 hours. Short-lived leaves are
 * re-issued rather than revoked.
 */
export const DEFAULT_MAX_CERT_TTL_SECS = 24 * 60 * 60;

/** `[unlock]`. */
export interface UnlockConfig {
  readonly ageYubikey: boolean;
  readonly bip39PhraseFile: string | undefined;
  readonly unlockTpm: boolean;
  readonly passphraseFile: string | undefined;
  readonly passphraseNoWipe: boolean;
  readonly strictBundlePerms: boolean;
  /** TCTI for the TPM slot (extension); undefined = the default device. */
  readonly tpmTcti: string | undefined;
}

/** `[jwks]`. */
export interface JwksConfig {
  readonly enable: boolean;
  readonly listen: { readonly host: string; readonly port: number };
  readonly issuer: string | undefined;
  readonly tls: { readonly enable: boolean; readonly certFile?: string; readonly keyFile?: string };
}

/** `[logging]`, reduced to what this build acts on. */
export interface LoggingConfig {
  /** Human/JSON log lines on stderr (the contract's `stdout` sink). */
  readonly stderr: boolean;
  readonly level: "debug" | "info" | "warn" | "error";
  /** Native journald entries (lib/logging/journald.ts), when its socket exists. */
  readonly journald?: {
    readonly enable: boolean;
    /** `enable = true` was written out: a missing socket is then an error. */
    readonly explicit: boolean;
    readonly socket: string;
  };
  /** `[logging.file]` when enabled (lib/logging/file.ts). */
  readonly file?: LogFileConfig;
}

/** `[logging.file]`: JSON lines in `dir`, rotated by time and/or size. */
export interface LogFileConfig {
  readonly dir: string;
  readonly prefix: string;
  readonly rotation: "none" | "hourly" | "daily" | "weekly";
  /** Rotate when the current file would pass this many bytes (extension). */
  readonly maxSize: number | undefined;
  /** Rotated files kept (extension, default 7); older ones are removed. */
  readonly keep: number;
  /** File mode, 0600 (default) or 0640 (extension). */
  readonly mode: number;
}

/** `[metrics]` (extension): the opt-in Prometheus endpoint. */
export interface MetricsConfig {
  readonly enable: boolean;
  readonly listen: { readonly host: string; readonly port: number };
  /** Count decisions by subject too (`subject-labels`). */
  readonly subjectLabels: boolean;
}

/** `[invocation]` plus `[broker-identity]` (contract §1). */
export interface InvocationConfig {
  readonly enable: boolean;
  /** `basil://` URIs, trimmed, sorted, deduped. */
  readonly audiences: readonly string[];
  readonly requestEncryptionKeyId: string | undefined;
  readonly maxTtlSecs: number;
  readonly clockSkewSecs: number;
  readonly replayCacheCapacity: number;
  /** `[broker-identity] id`. */
  readonly brokerId: string | undefined;
  /** `[broker-identity] response-signing-key-id`. */
  readonly responseSigningKeyId: string | undefined;
}

/** The effective agent configuration, every path absolute. */
export interface AgentConfig {
  /** Absolute path of the TOML file, when one was read. */
  readonly configFile: string | undefined;
  readonly catalog: string;
  readonly policy: string;
  readonly bundle: string;
  readonly socket: string;
  readonly socketMode: number;
  readonly socketGroup: string | number | undefined;
  readonly vaultAddr: string;
  /** Extension: PEM CA file trusted for https vault backends (default roots otherwise). */
  readonly vaultCaFile?: string;
  /** Extension: per-request timeout to vault backends, ms (default 10000). */
  readonly vaultTimeoutMs?: number;
  readonly transitMount: string;
  readonly jwtAuthMount: string;
  readonly jwtRole: string;
  readonly jwtAudience: string;
  readonly svidTtlSecs: number;
  readonly capabilityPolicy: "strict" | "degraded" | "off";
  readonly maxEncryptSize: number;
  readonly maxPayloadSize: number;
  /** `max-cert-ttl-secs` (extension, ≥ 1): IssueCertificate's TTL cap. */
  readonly maxCertTtlSecs: number;
  readonly graceVersions: number;
  readonly retainVersions: number | undefined;
  readonly retentionSweepSecs: number;
  readonly auditLog: string | undefined;
  /** `audit-fsync` (extension): when an audit line is fsynced (lib/audit/durability.ts). */
  readonly auditFsync: "always" | "batch" | "never";
  readonly noReconcile: boolean;
  readonly unlock: UnlockConfig;
  readonly jwks: JwksConfig;
  readonly logging: LoggingConfig;
  /** Optional so configs built by hand (tests, tools) need not name it; absent = disabled. */
  readonly metrics?: MetricsConfig;
  /** Sealed invocations; optional so hand-built configs need not name it (absent = disabled). */
  readonly invocation?: InvocationConfig;
}

/** Values that may override the file (contract §1: flags beat env beat file). */
export interface ConfigOverrides {
  readonly catalog?: string;
  readonly policy?: string;
  readonly bundle?: string;
  readonly socket?: string;
  readonly vaultAddr?: string;
}
