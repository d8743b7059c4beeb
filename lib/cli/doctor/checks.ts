/**
 * `basil doctor`'s checks (contract §8), run in the CLI with the same
 * loaders the agent uses. Read-only: nothing here binds, unlocks, writes or
 * creates anything (the socket is only connected to, the bundle and the
 * epoch sidecar only read). The `--keys` probes live in `keys.ts`.
 *
 * A check whose inputs did not load is reported as not run (fatal, naming
 * the check it waits for), so a broken config never reads as healthy.
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { checkCapabilities } from "../../backends/capability.ts";
import { AWS_KMS_KEY_TYPES } from "../../backends/aws_kms/types.ts";
import { GCP_KEY_TYPES } from "../../backends/gcp_kms/names.ts";
import { checkInvocationBindings } from "../../broker/invoke_bindings.ts";
import type { Catalog } from "../../catalog/schema.ts";
import type { AgentConfig } from "../../config/schema.ts";
import { formatMode } from "../../core/fs.ts";
import { readHostUnixNames } from "../../core/unix_names.ts";
import type { Policy } from "../../policy/schema.ts";
import { readEpochSidecar } from "../../seal/epoch.ts";
import { decodeBundle, type DecodedBundle } from "../../seal/format.ts";
import { probeSocket } from "../../transport/socket.ts";
import { type CheckResult, row } from "./report.ts";

/** Build features of this binary (contract §8 `feature_compatibility`). */
export const BUILT_FEATURES: ReadonlySet<string> = new Set([
  "unlock-bip39",
  "unlock-age-yubikey",
  "unlock-tpm",
  "keystore-backend",
  "aws-kms",
  "gcp-kms",
  "sealed-invocation",
  "http",
  "http-tls",
]);

/** Why a message is short: an error's message, without a stack. */
export function why(e: unknown): string {
  return e instanceof Error ? e.message.split("\n").join("; ") : String(e);
}

/** The features a config (raw TOML) and catalog need. */
export function neededFeatures(raw: Record<string, unknown>, catalog?: Catalog): string[] {
  const need = new Set<string>();
  const table = (k: string) => (raw[k] ?? {}) as Record<string, unknown>;
  const unlock = table("unlock");
  if (unlock["bip39-phrase-file"] !== undefined) need.add("unlock-bip39");
  if (unlock["age-yubikey"] === true) need.add("unlock-age-yubikey");
  if (unlock["unlock-tpm"] === true) need.add("unlock-tpm");
  if (table("invocation").enable === true) need.add("sealed-invocation");
  const jwks = table("jwks");
  if (jwks.enable === true) need.add("http");
  if ((jwks.tls as Record<string, unknown> | undefined)?.enable === true) need.add("http-tls");
  const otel = (table("logging").opentelemetry ?? {}) as Record<string, unknown>;
  if (otel.enable === true) need.add("otlp");
  for (const b of catalog?.backends.values() ?? []) {
    if (b.kind === "keystore") need.add("keystore-backend");
    if (b.kind === "aws-kms") need.add("aws-kms");
    if (b.kind === "gcp-kms") need.add("gcp-kms");
  }
  return [...need].sort();
}

/** The raw TOML table of the config file, for feature detection (undefined if unparsable). */
export function rawConfig(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return {};
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** `feature_compatibility`. */
export function checkFeatures(
  raw: Record<string, unknown> | undefined,
  catalog: Catalog | undefined,
): CheckResult {
  const name = "feature_compatibility";
  if (raw === undefined) {
    return row.fatal(name, "not run: the config is not valid TOML", "fix the config first");
  }
  const need = neededFeatures(raw, catalog);
  const missing = need.filter((f) => !BUILT_FEATURES.has(f));
  if (missing.length > 0) {
    return row.fatal(
      name,
      `this build lacks ${missing.join(", ")} (needed by the config or catalog)`,
      "remove what needs them from the config/catalog, or use a build that has them",
    );
  }
  return row.ok(
    name,
    need.length === 0 ? "needs no optional feature" : `built: ${need.join(", ")}`,
  );
}

/**
 * What a backend kind can really provide: declared engines and
 * `mintKeyTypes` beyond it are gaps (the declaration would promise keys the
 * backend refuses at run time).
 */
const KIND_PROVIDES: Partial<
  Record<string, { engines: readonly string[]; mint: readonly string[] }>
> = {
  "aws-kms": {
    engines: ["transit"],
    mint: AWS_KMS_KEY_TYPES.filter((t) => t !== "aes-256-gcm"),
  },
  "gcp-kms": {
    engines: ["transit"],
    mint: GCP_KEY_TYPES.filter((t) => t !== "aes-256-gcm"),
  },
};

/** Declarations a backend's kind cannot honour, one line each. */
export function kindDeclarationGaps(catalog: Catalog): string[] {
  const gaps: string[] = [];
  for (const b of catalog.backends.values()) {
    const p = KIND_PROVIDES[b.kind];
    if (p === undefined) continue;
    for (const e of b.engines) {
      if (!p.engines.includes(e)) {
        gaps.push(`backend ${b.name}: ${b.kind} provides no engine "${e}"`);
      }
    }
    for (const t of b.mintKeyTypes) {
      if (!p.mint.includes(t)) gaps.push(`backend ${b.name}: ${b.kind} cannot mint "${t}" keys`);
    }
  }
  return gaps;
}

/** `capability`. */
export function checkCapability(cfg: AgentConfig, catalog: Catalog): CheckResult {
  const name = "capability";
  if (cfg.capabilityPolicy === "off") return row.ok(name, "skipped (capability-policy = off)");
  const r = checkCapabilities(catalog, cfg.capabilityPolicy);
  r.fatal.push(...kindDeclarationGaps(catalog));
  if (r.fatal.length > 0) {
    return row.fatal(
      name,
      r.fatal.join("; "),
      "declare what the backend provides (engines, capabilities, mintKeyTypes) or change the keys",
    );
  }
  if (r.warnings.length > 0) {
    return row.warn(name, r.warnings.join("; "), "declare the backend's engines and capabilities");
  }
  return row.ok(name, `every key's needs are declared by its backend (${cfg.capabilityPolicy})`);
}

/** `invocation_bindings`: sealed invocation and the broker identity's keys. */
export function checkInvocation(
  raw: Record<string, unknown>,
  catalog: Catalog,
  cfg: AgentConfig,
): CheckResult {
  const name = "invocation_bindings";
  if (cfg.invocation?.enable) {
    // The agent's own start-up check (lib/broker/invoke_bindings.ts).
    try {
      checkInvocationBindings(catalog, cfg.invocation);
    } catch (e) {
      return row.fatal(
        name,
        why(e),
        "label the keys [invocation] and [broker-identity] name as the contract requires",
      );
    }
    return row.ok(name, "sealed invocation enabled; its catalog bindings are valid");
  }
  const id = raw["broker-identity"] as Record<string, unknown> | undefined;
  const keyId = id?.["response-signing-key-id"];
  if (typeof keyId === "string") {
    const k = catalog.keys.get(keyId);
    const ok = k !== undefined && k.class === "asymmetric" &&
      k.labelMap.get("broker_key_use") === "response-signing";
    if (!ok) {
      return row.fatal(
        name,
        `[broker-identity] response-signing-key-id "${keyId}" is not an asymmetric catalog key ` +
          "labelled broker_key_use=response-signing",
        "point it at such a key, or remove [broker-identity]",
      );
    }
  }
  return row.ok(name, "sealed invocation disabled");
}

/** Whether `cmd` is an executable file in a PATH directory. */
function onPath(cmd: string, path: string | undefined): boolean {
  for (const dir of (path ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const st = Deno.statSync(`${dir}/${cmd}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return true;
    } catch { /* next */ }
  }
  return false;
}

/** `backend_binary`: the `bao` or `vault` CLI, for operating vault backends. */
export function checkBackendBinary(catalog: Catalog, path: string | undefined): CheckResult {
  const name = "backend_binary";
  const vault = [...catalog.backends.values()].some((b) => b.kind === "vault");
  if (!vault) return row.ok(name, "no vault backends");
  const found = ["bao", "vault"].filter((c) => onPath(c, path));
  if (found.length === 0) {
    return row.warn(
      name,
      "neither bao nor vault is on PATH (the agent does not need it; operators do)",
      "install the OpenBao (bao) or Vault CLI to provision transit keys and policies",
    );
  }
  return row.ok(name, `${found.join(", ")} on PATH`);
}

/** `socket`: its directory, its group, its mode and what is there now. Never binds. */
export async function checkSocket(cfg: AgentConfig): Promise<CheckResult> {
  const name = "socket";
  const path = cfg.socket;
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  try {
    const st = Deno.statSync(dir);
    if (!st.isDirectory) {
      return row.fatal(name, `${dir} is not a directory`, `make ${dir} a directory`);
    }
  } catch {
    return row.fatal(
      name,
      `the socket's directory ${dir} does not exist or cannot be read`,
      `create ${dir} (for /run/basil the systemd unit's RuntimeDirectory does it)`,
    );
  }
  if (typeof cfg.socketGroup === "string" && !/^\d+$/.test(cfg.socketGroup)) {
    if (readHostUnixNames().gidOf(cfg.socketGroup) === undefined) {
      return row.fatal(
        name,
        `socket-group "${cfg.socketGroup}" is not a group on this host`,
        "create the group or fix socket-group",
      );
    }
  }
  let now = "no socket file yet";
  try {
    const st = Deno.lstatSync(path);
    if (!st.isSocket) {
      return row.fatal(
        name,
        `${path} exists and is not a socket; the agent refuses to replace it`,
        `move ${path} away or choose another socket path`,
      );
    }
    const p = await probeSocket(path);
    now = p.kind === "live"
      ? "an agent is listening there"
      : p.kind === "stale"
      ? "a stale socket file (the agent replaces it)"
      : p.kind === "gone"
      ? "no socket file yet"
      : `a socket file nobody answered on (${p.reason})`;
  } catch { /* absent */ }
  const mode = cfg.socketMode;
  if ((mode & 0o002) !== 0) {
    return row.warn(
      name,
      `${path}: socket-mode ${formatMode(mode)} is world-writable: every local user can call ` +
        `the agent (policy still decides); ${now}`,
      'use socket-mode = "0600" or "0660" with socket-group',
    );
  }
  return row.ok(name, `${path} (mode ${formatMode(mode)}): ${now}`);
}

/** The bundle checks: readable, perms, freshness. */
export function checkBundle(cfg: AgentConfig): {
  rows: CheckResult[];
  bundle: DecodedBundle | undefined;
} {
  const path = cfg.bundle;
  let bytes: Uint8Array;
  let mode: number;
  try {
    const st = Deno.statSync(path);
    if (!st.isFile) throw new Error("not a regular file");
    mode = (st.mode ?? 0) & 0o777;
    bytes = Deno.readFileSync(path);
  } catch (e) {
    return {
      rows: [
        row.fatal(
          "bundle_readable",
          `${path}: cannot read (${e instanceof Deno.errors.NotFound ? "no such file" : why(e)})`,
          "create it with basil bundle create, or fix bundle = in the config",
        ),
        row.fatal("bundle_perms", "not run: the bundle is unreadable", "see bundle_readable"),
        row.fatal("bundle_freshness", "not run: the bundle is unreadable", "see bundle_readable"),
      ],
      bundle: undefined,
    };
  }
  let bundle: DecodedBundle;
  try {
    bundle = decodeBundle(bytes, path);
  } catch (e) {
    return {
      rows: [
        row.fatal("bundle_readable", why(e), "restore the bundle from a backup or recreate it"),
        row.fatal("bundle_perms", "not run: the bundle does not decode", "see bundle_readable"),
        row.fatal("bundle_freshness", "not run: the bundle does not decode", "see bundle_readable"),
      ],
      bundle: undefined,
    };
  }
  const methods = [...new Set(bundle.slots.map((s) => s.method))].join(", ");
  const rows = [
    row.ok(
      "bundle_readable",
      `${path}: epoch ${bundle.header.epoch}, ${bundle.slots.length} slot(s) (${methods}), ` +
        `${bundle.deposits.length} deposit(s)`,
    ),
  ];
  if (mode === 0o600) rows.push(row.ok("bundle_perms", "mode 0600"));
  else if (cfg.unlock.strictBundlePerms) {
    rows.push(row.fatal(
      "bundle_perms",
      `mode is ${formatMode(mode)}; with strict-bundle-perms the agent refuses to start`,
      `chmod 0600 ${path}`,
    ));
  } else {
    rows.push(
      row.warn("bundle_perms", `mode is ${formatMode(mode)}, not 0600`, `chmod 0600 ${path}`),
    );
  }
  rows.push(checkFreshness(path, bundle.header.epoch));
  return { rows, bundle };
}

function checkFreshness(path: string, epoch: number): CheckResult {
  const name = "bundle_freshness";
  let seen: number | undefined;
  try {
    seen = readEpochSidecar(path);
  } catch (e) {
    return row.fatal(name, why(e), `restore ${path}.epoch, or delete it to re-initialize`);
  }
  if (seen === undefined) {
    return row.warn(
      name,
      `no epoch sidecar ${path}.epoch yet (epoch ${epoch}); the agent creates it at its first unlock`,
      "start the agent once (or run basil doctor --keys) so rollback of the bundle is detected",
    );
  }
  if (epoch < seen) {
    return row.fatal(
      name,
      `the bundle has epoch ${epoch} but ${path}.epoch records ${seen}: an older bundle was ` +
        "restored over a newer one",
      `use the current bundle, or delete ${path}.epoch only if you deliberately rolled back`,
    );
  }
  return row.ok(name, `epoch ${epoch}, sidecar ${seen}`);
}

/** Vault health answers that mean "serving" (active, standby, DR/perf standby). */
const SERVING = new Set([200, 429, 472, 473]);

/** `backend_reachability`: unauthenticated `GET /v1/sys/health` per distinct vault addr, 3 s each. */
export async function checkReachability(
  cfg: AgentConfig,
  catalog: Catalog,
  timeoutMs = 3_000,
): Promise<CheckResult> {
  const name = "backend_reachability";
  const addrs = [
    ...new Set(
      [...catalog.backends.values()].filter((b) => b.kind === "vault").map((b) =>
        b.addr.replace(/\/+$/, "")
      ),
    ),
  ];
  if (addrs.length === 0) return row.ok(name, "no vault backends");
  let client: Deno.HttpClient | undefined;
  if (cfg.vaultCaFile !== undefined) {
    try {
      client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(cfg.vaultCaFile)] });
    } catch (e) {
      return row.fatal(name, `vault-ca-file ${cfg.vaultCaFile}: ${why(e)}`, "fix vault-ca-file");
    }
  }
  try {
    const results = await Promise.all(addrs.map(async (addr) => {
      try {
        const res = await fetch(`${addr}/v1/sys/health`, {
          signal: AbortSignal.timeout(timeoutMs),
          ...(client ? { client } : {}),
        });
        await res.body?.cancel();
        if (SERVING.has(res.status)) return undefined;
        const state = res.status === 503
          ? "sealed"
          : res.status === 501
          ? "not initialized"
          : `HTTP ${res.status}`;
        return `${addr}: ${state}`;
      } catch (e) {
        const msg = e instanceof DOMException && e.name === "TimeoutError"
          ? `no answer within ${timeoutMs / 1000} s`
          : e instanceof Error
          ? e.message.split("\n")[0]!
          : "unreachable";
        return `${addr}: ${msg}`;
      }
    }));
    const bad = results.filter((r): r is string => r !== undefined);
    if (bad.length > 0) {
      return row.fatal(
        name,
        bad.join("; "),
        "start/unseal the server, or fix the backend addr in the catalog",
      );
    }
    return row.ok(name, `${addrs.join(", ")}: serving`);
  } finally {
    client?.close();
  }
}

/** `catalog_policy`'s row from what loaded. */
export function catalogPolicyRow(
  catalog: Catalog,
  policy: Policy,
  warnings: readonly string[],
): CheckResult {
  const detail = `${catalog.keys.size} key(s) on ${catalog.backends.size} backend(s); ` +
    `${policy.subjects.size} subject(s)`;
  if (warnings.length > 0) {
    return row.warn(
      "catalog_policy",
      `${detail}; ${warnings.join("; ")}`,
      "fix the catalog warnings",
    );
  }
  return row.ok("catalog_policy", detail);
}
