/**
 * The agent's composition root. Start-up is fail-closed and ordered so that
 * nothing is written and no socket exists until every check has passed:
 *
 *   config → catalog + policy → capability check → socket path bindable →
 *   audit log openable (probed, nothing left behind) → JWKS TLS files read
 *   and listen address bindable (probed) → unlock the bundle →
 *   audit log opened (0600) → backends (credentials wiped) → reconcile →
 *   JWT revocation list → bind the socket → serve (broker services and the
 *   SPIFFE Workload API on the same socket).
 *
 * Any failure prints one line and exits non-zero; a failure after the bind
 * also stops the server and removes the socket. SIGTERM,
 * SIGINT and SIGQUIT shut down cleanly and remove the socket; SIGHUP reopens
 * the audit log and then hot-reloads the catalog and policy (lib/broker/reload.ts).
 * This is the only module that builds concrete objects.
 * @module
 */

import type { Libc } from "../ffi/libc.ts";
import type { Nghttp2 } from "../ffi/nghttp2.ts";
import type { Tss2 } from "../ffi/tss2.ts";
import { checkAuditWritable, openAuditFile, stderrAuditSink } from "./audit/sink.ts";
import type { AuditSink } from "./audit/sink.ts";
import type { Backend } from "./backends/backend.ts";
import { checkCapabilities } from "./backends/capability.ts";
import { reconcile } from "./backends/reconcile.ts";
import { provisionKey } from "./backends/provision.ts";
import { buildBackends } from "./backends/registry.ts";
import type { BrokerDeps } from "./broker/deps.ts";
import { sweepRetention } from "./broker/retention.ts";
import { GenerationHolder } from "./broker/state.ts";
import { RateLimiter } from "./broker/rate_limit.ts";
import { Reloader } from "./broker/reload.ts";
import type { ReloadEffects } from "./broker/reload.ts";
import type { Catalog } from "./catalog/schema.ts";
import { issuersOf } from "./spiffe/issuers.ts";
import { EventBus } from "./broker/events.ts";
import { loadRevocations, RevocationList, revocationStoreKey } from "./spiffe/revocation.ts";
import { WorkloadApi } from "./spiffe/workload.ts";
import { spiffeService } from "./service/spiffe_service.ts";
import { sdsService } from "./service/sds_service.ts";
import { loadCatalog } from "./catalog/load.ts";
import { loadAgentConfig } from "./config/load.ts";
import type { AgentConfig, ConfigOverrides } from "./config/schema.ts";
import { BasilError, fieldError, InputError } from "./core/errors.ts";
import { describeFsError, readTextInput } from "./core/fs.ts";
import type { Logger } from "./core/log.ts";
import { openLogging } from "./logging/logger.ts";
import { agentMetrics, setSubjectLabels } from "./metrics/agent.ts";
import { startMetricsServer } from "./metrics/server.ts";
import { readHostUnixNames } from "./core/unix_names.ts";
import { VERSION } from "./core/version.ts";
import { loadPolicy } from "./policy/load.ts";
import { wipeCreds } from "./seal/creds.ts";
import { unlockBundle } from "./seal/unlock.ts";
import { adminService } from "./service/admin_service.ts";
import { aeadService } from "./service/aead_service.ts";
import { invocationService } from "./service/invocation_service.ts";
import { Invoker } from "./broker/invoke.ts";
import { checkInvocationBindings } from "./broker/invoke_bindings.ts";
import { mintingService } from "./service/minting_service.ts";
import { natsService } from "./service/nats_service.ts";
import { signingService } from "./service/signing_service.ts";
import { secretService } from "./service/secret_service.ts";
import { hasOnePassword, startupOnly } from "./sandbox/permissions.ts";
import { startJwksServer } from "./transport/jwks_http.ts";
import { BrokerServer, checkBindable } from "./transport/server.ts";
import { jwtJwks } from "./spiffe/bundles.ts";

/** The native libraries, opened by main.ts before it gave up the ffi permission. */
export interface NativeLibraries {
  readonly libc: Libc;
  /** The HTTP/2 engine of the socket. */
  readonly h2: Nghttp2;
  /** libtss2, when the TPM slot is on and the libraries opened. */
  readonly tss2?: Tss2;
}

/** Arguments of the agent process (see main.ts). */
export interface AgentArgs {
  readonly configFile?: string;
  readonly overrides: ConfigOverrides;
  readonly native: NativeLibraries;
  /** The spawning process's pid (`basil demo`): the agent stops when it dies. */
  readonly parentPid?: number;
  /** libtss2 directory for the TPM slot (resolved by the launcher). */
  readonly tss2Dir?: string;
  readonly cwd: string;
}

/** A started agent. */
export interface RunningAgent {
  readonly config: AgentConfig;
  /** Resolves when the agent has shut down. */
  readonly done: Promise<void>;
  /** Begins a clean shutdown. */
  stop(): Promise<void>;
}

function stderrLine(line: string): void {
  const b = new TextEncoder().encode(line);
  let o = 0;
  while (o < b.length) o += Deno.stderr.writeSync(b.subarray(o));
}

/** Starts the agent; throws `InputError` (fail closed) before anything is bound. */
export async function startAgent(args: AgentArgs): Promise<RunningAgent> {
  const libc = args.native.libc;
  // A SIGKILLed spawner must not leave an agent serving behind its back.
  if (args.parentPid !== undefined && !libc.dieWithParent(args.parentPid)) {
    throw new InputError("launcher_gone", "the launcher exited before the agent started");
  }
  const names = readHostUnixNames();
  const file = args.configFile === undefined
    ? undefined
    : { path: args.configFile, text: readTextInput(args.configFile, "config") };
  const cfg = loadAgentConfig({ file, overrides: args.overrides, cwd: args.cwd });
  const logging = openLogging({
    config: cfg.logging,
    label: configLabel(cfg),
    stderr: stderrLine,
    datagrams: libc,
  });
  const logger: Logger = logging.logger;
  const { catalog, warnings } = loadCatalog(readTextInput(cfg.catalog, "catalog"), cfg.catalog);
  for (const w of warnings) logger.log("warn", "catalog warning", { detail: w });
  const policy = loadPolicy(readTextInput(cfg.policy, "policy"), cfg.policy, { names });
  checkInvocationBindings(catalog, cfg.invocation);
  const caps = checkCapabilities(catalog, cfg.capabilityPolicy);
  for (const w of caps.warnings) logger.log("warn", "capability warning", { detail: w });
  if (caps.fatal.length > 0) {
    throw new InputError("capability_gap", `capability check failed: ${caps.fatal.join("; ")}`);
  }
  const gid = resolveGroup(cfg, names);
  await checkBindable(cfg.socket, (m) => libc.umask(m));

  if (cfg.auditLog !== undefined) checkAuditWritable(cfg.auditLog);
  // Before unlocking (which may wipe the unlock files): a bad TLS file or a
  // busy JWKS port must fail the start with nothing consumed.
  const jwksTls = cfg.jwks.enable ? readJwksTls(cfg) : undefined;
  if (cfg.jwks.enable) checkJwksListen(cfg, jwksTls);
  if (cfg.metrics?.enable) checkMetricsListen(cfg);
  let audit: AuditSink | undefined;
  let server: BrokerServer | undefined;
  let backends: Map<string, Backend> | undefined;
  let closeApi: (() => void) | undefined;
  try {
    const creds = await unlockBundle({
      bundlePath: cfg.bundle,
      unlock: cfg.unlock,
      logger,
      ...(args.tss2Dir === undefined ? {} : {
        tpm: {
          libDir: args.tss2Dir,
          ...(args.native.tss2 === undefined ? {} : { opened: args.native.tss2 }),
        },
      }),
    });
    try {
      audit = cfg.auditLog === undefined
        ? stderrAuditSink(logger)
        : openAuditFile(cfg.auditLog, logger, { fsync: cfg.auditFsync });
      backends = await buildBackends(catalog, creds, logger, cfg);
    } finally {
      wipeCreds(creds);
    }
    if (!cfg.noReconcile) {
      const r = await reconcile(catalog, backends, logger, provisionKey);
      logger.log("info", "reconciled", {
        present: r.present,
        generated: r.generated.length,
        warned: r.warned.length,
      });
    }
    const revocations = new RevocationList();
    const store = revocationStoreKey(catalog);
    await loadRevocations(store, store ? backends.get(store.backend) : undefined, revocations);
    const state = new GenerationHolder({ id: 1, catalog, policy });
    const events = new EventBus();
    const deps: BrokerDeps = {
      state,
      backends,
      audit,
      events,
      logger,
      limits: {
        maxPayloadSize: cfg.maxPayloadSize,
        maxEncryptSize: cfg.maxEncryptSize,
        graceVersions: cfg.graceVersions,
        maxCertTtlSecs: cfg.maxCertTtlSecs,
      },
      hostUserName: (uid) => names.userOf(uid),
      now: () => new Date(),
      reloader: new Reloader({
        state,
        inputs: { catalog: cfg.catalog, policy: cfg.policy },
        audit,
        events,
        logger,
        now: () => new Date(),
        names: readHostUnixNames,
        effects: reloadEffects(backends, revocations),
      }),
      rateLimiter: new RateLimiter(),
    };
    agentMetrics.generation.collect(() => deps.state.current().id);
    agentMetrics.auditFailures.collect(() => deps.audit.failures);
    setSubjectLabels(cfg.metrics?.subjectLabels ?? false);
    const api = new WorkloadApi(deps, cfg.svidTtlSecs, revocations);
    const rotations = deps.events.subscribe((e) => e.kind === "key_rotated");
    (async () => {
      for await (const e of rotations) if (e.kind === "key_rotated") api.source.reissue(e.keyId);
    })();
    let jwks: { stop(): Promise<void> } | undefined;
    let metrics: { stop(): Promise<void> } | undefined;
    // From here on, every exit (a failure below, or the stop) closes these.
    closeApi = () => {
      rotations.close();
      api.close();
      // Not awaited: an idle or slow JWKS client must not hold up the shutdown.
      void jwks?.stop();
      void metrics?.stop();
    };
    server = await BrokerServer.start({
      socket: cfg.socket,
      mode: cfg.socketMode,
      gid,
      services: [
        secretService(deps),
        adminService(deps, api),
        signingService(deps),
        aeadService(deps),
        mintingService(deps),
        natsService(deps),
        invocationService(deps, cfg.invocation?.enable ? new Invoker(cfg.invocation) : undefined),
        spiffeService(deps, api),
        sdsService(deps, api),
      ],
      engine: args.native.h2,
      readPeer: (fd) => libc.peerCredentials(fd),
      trimMemory: () => libc.trimHeap(),
      umask: (m) => libc.umask(m),
      logger,
      maxReceiveBytes: Math.max(cfg.maxPayloadSize, cfg.maxEncryptSize) + 64 * 1024,
    });
    try {
      // Probed above; only a race for the port can fail here.
      jwks = cfg.jwks.enable ? startJwks(cfg, deps, jwksTls) : undefined;
    } catch (e) {
      throw jwksListenError(cfg, e);
    }
    if (cfg.metrics?.enable) {
      const m = cfg.metrics;
      try {
        metrics = startMetricsServer({ ...m.listen, registry: agentMetrics.registry, logger });
      } catch (e) {
        throw metricsListenError(cfg, e);
      }
    }
    giveUpStartupPermissions(cfg, hasOnePassword(catalog));
    collectStartupGarbage(libc);
    const sweep = startRetention(deps, cfg);
    const reload = () => deps.reloader!.reload({ kind: "signal", id: "SIGHUP" });
    const running = serve(cfg, server, { audit, backends, libc, logger, sweep, closeApi, reload });
    // Only now, with the signal handlers installed, may a supervisor rely on SIGTERM.
    logger.log("info", "agent listening", { socket: cfg.socket, version: VERSION, pid: Deno.pid });
    return running;
  } catch (e) {
    // After the bind: stop serving and remove the socket before cleaning up.
    closeApi?.();
    await server?.stop(0);
    for (const b of backends?.values() ?? []) b.close();
    audit?.close();
    throw e;
  }
}

function serve(
  cfg: AgentConfig,
  server: BrokerServer,
  parts: {
    audit: AuditSink;
    backends: Map<string, Backend>;
    libc: Libc;
    logger: Logger;
    sweep: (() => void) | undefined;
    closeApi: () => void;
    /** Hot reload on SIGHUP; it logs and audits its own result. */
    reload: () => Promise<unknown>;
  },
): RunningAgent {
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const onHup = () => {
    parts.audit.reopen();
    parts.logger.log("info", "SIGHUP: audit log reopened");
    parts.reload().catch((e) => {
      parts.logger.log("error", "SIGHUP: reload failed", {
        error: e instanceof BasilError ? e.detail ?? e.code : describeFsError(e),
      });
    });
  };
  const stop = () => {
    stopping ??= (async () => {
      parts.logger.log("info", "agent stopping");
      parts.sweep?.();
      parts.closeApi();
      await server.stop();
      for (const b of parts.backends.values()) b.close();
      parts.libc.close();
      parts.audit.close();
      for (const s of ["SIGTERM", "SIGINT", "SIGQUIT"] as const) {
        Deno.removeSignalListener(s, onStop);
      }
      Deno.removeSignalListener("SIGHUP", onHup);
      parts.logger.log("info", "agent stopped");
      resolveDone();
    })();
    return stopping;
  };
  const onStop = () => void stop();
  for (const s of ["SIGTERM", "SIGINT", "SIGQUIT"] as const) Deno.addSignalListener(s, onStop);
  Deno.addSignalListener("SIGHUP", onHup);
  return { config: cfg, done, stop };
}

/**
 * What a reload does beyond the broker: SPIFFE bundle publishers (to
 * announce BundleChanged) and the JWT revocation store (re-read into the
 * live list, which only ever grows).
 */
function reloadEffects(
  backends: ReadonlyMap<string, Backend>,
  revocations: RevocationList,
): ReloadEffects {
  return {
    bundlePublishers(catalog: Catalog) {
      const out = new Map<string, string>();
      for (const kind of ["x509", "jwt"] as const) {
        for (const i of issuersOf(catalog, kind)) {
          out.set(`${kind}:${i.key.name}:${i.issuerId}`, i.trustDomain);
        }
      }
      return out;
    },
    async refreshRevocations(catalog: Catalog) {
      const store = revocationStoreKey(catalog);
      await loadRevocations(store, store ? backends.get(store.backend) : undefined, revocations);
    },
  };
}

/** The JWKS endpoint's TLS certificate and key (PEM), when `[jwks.tls]` is enabled. */
type JwksTls = { readonly cert: string; readonly key: string } | undefined;

/** The label config errors use for the file (as the config loader does). */
function configLabel(cfg: AgentConfig): string {
  return cfg.configFile ?? "agent configuration";
}

/** Reads the `[jwks.tls]` files; errors name the config file, the field and the path. */
function readJwksTls(cfg: AgentConfig): JwksTls {
  const tls = cfg.jwks.tls;
  if (!tls.enable) return undefined;
  const read = (field: string, path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      throw fieldError(
        "config_invalid",
        configLabel(cfg),
        field,
        `${path}: cannot read: ${describeFsError(e)}`,
      );
    }
  };
  return {
    cert: read("jwks.tls.cert-file", tls.certFile!),
    key: read("jwks.tls.key-file", tls.keyFile!),
  };
}

/**
 * Proves that the JWKS listener can start (the address is free and bindable,
 * and the TLS certificate and key load and match) by listening once and
 * closing again, so such a failure stops the start before anything is
 * unlocked, wiped or bound.
 */
function checkJwksListen(cfg: AgentConfig, tls: JwksTls): void {
  const { host, port } = cfg.jwks.listen;
  let listener: Deno.Listener;
  try {
    listener = tls
      ? Deno.listenTls({ hostname: host, port, cert: tls.cert, key: tls.key })
      : Deno.listen({ hostname: host, port });
  } catch (e) {
    throw jwksListenError(cfg, e);
  }
  listener.close();
}

/** A JWKS listen failure as one clear line naming the field at fault. */
function jwksListenError(cfg: AgentConfig, e: unknown): unknown {
  const label = configLabel(cfg);
  const { host, port } = cfg.jwks.listen;
  const msg = e instanceof Error ? e.message : "";
  const tls = cfg.jwks.tls;
  if (e instanceof Deno.errors.AddrInUse) {
    return fieldError(
      "config_invalid",
      label,
      "jwks.listen",
      `${host}:${port}: address already in use`,
    );
  }
  if (e instanceof Deno.errors.AddrNotAvailable) {
    return fieldError(
      "config_invalid",
      label,
      "jwks.listen",
      `${host}:${port}: address not available on this host`,
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return fieldError("config_invalid", label, "jwks.listen", `${host}:${port}: permission denied`);
  }
  if (tls.enable && /certificate/i.test(msg)) {
    return fieldError(
      "config_invalid",
      label,
      "jwks.tls.cert-file",
      `${tls.certFile}: no usable PEM certificate`,
    );
  }
  if (tls.enable && /mismatch|not be consistent/i.test(msg)) {
    return fieldError(
      "config_invalid",
      label,
      "jwks.tls.key-file",
      `${tls.keyFile}: does not match jwks.tls.cert-file`,
    );
  }
  if (tls.enable && /key/i.test(msg)) {
    return fieldError(
      "config_invalid",
      label,
      "jwks.tls.key-file",
      `${tls.keyFile}: no usable PEM private key`,
    );
  }
  if (e instanceof Deno.errors.NotCapable) return e;
  return fieldError(
    "config_invalid",
    label,
    "jwks.listen",
    `${host}:${port}: cannot listen (${e instanceof Error ? e.name : "error"})`,
  );
}

/** Proves the metrics address can be listened on before anything is unlocked. */
function checkMetricsListen(cfg: AgentConfig): void {
  const { host, port } = cfg.metrics!.listen;
  try {
    Deno.listen({ hostname: host, port }).close();
  } catch (e) {
    throw metricsListenError(cfg, e);
  }
}

/** A metrics listen failure as one line naming `metrics.listen`. */
function metricsListenError(cfg: AgentConfig, e: unknown): unknown {
  if (e instanceof Deno.errors.NotCapable) return e;
  const { host, port } = cfg.metrics!.listen;
  const why = e instanceof Deno.errors.AddrInUse
    ? "address already in use"
    : e instanceof Deno.errors.AddrNotAvailable
    ? "address not available on this host"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : `cannot listen (${e instanceof Error ? e.name : "error"})`;
  return fieldError(
    "config_invalid",
    configLabel(cfg),
    "metrics.listen",
    `${host}:${port}: ${why}`,
  );
}

/** Serves the JWKS of the JWT-SVID issuers over HTTP (`[jwks] enable`). */
function startJwks(cfg: AgentConfig, deps: BrokerDeps, tls: JwksTls): { stop(): Promise<void> } {
  return startJwksServer({
    host: cfg.jwks.listen.host,
    port: cfg.jwks.listen.port,
    issuer: cfg.jwks.issuer,
    tls,
    source: { jwks: async () => [...(await jwtJwks(deps, deps.state.current())).values()].flat() },
    logger: deps.logger,
  });
}

/** Runs the retention sweep now and every `retention-sweep-secs`; returns a stopper. */
function startRetention(deps: BrokerDeps, cfg: AgentConfig): (() => void) | undefined {
  const retain = cfg.retainVersions;
  if (retain === undefined || cfg.retentionSweepSecs === 0) return undefined;
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    sweepRetention(deps, retain).finally(() => (running = false));
  };
  run();
  const timer = setInterval(run, cfg.retentionSweepSecs * 1000);
  return () => clearInterval(timer);
}

function resolveGroup(
  cfg: AgentConfig,
  names: ReturnType<typeof readHostUnixNames>,
): number | undefined {
  const g = cfg.socketGroup;
  if (g === undefined) return undefined;
  if (typeof g === "number") return g;
  if (/^\d+$/.test(g)) return Number(g);
  const gid = names.gidOf(g);
  if (gid === undefined) {
    throw fieldError("config_invalid", configLabel(cfg), "socket-group", `no such group "${g}"`);
  }
  return gid;
}

/**
 * Once serving, the agent no longer needs its start-up-only files (unlock
 * files, bundle, epoch sidecar, config, JWKS TLS files) nor to run a
 * program (the age plugin): those grants are revoked for good.
 */
function giveUpStartupPermissions(cfg: AgentConfig, keepOp: boolean): void {
  const { read, write, run } = startupOnly(cfg);
  for (const path of write) Deno.permissions.revokeSync({ name: "write", path });
  for (const path of read) Deno.permissions.revokeSync({ name: "read", path });
  // A 1Password backend runs `op` per request: keep exactly that grant, drop the rest.
  if (!keepOp) Deno.permissions.revokeSync({ name: "run" });
  else for (const command of run) Deno.permissions.revokeSync({ name: "run", command });
}

/**
 * Start-up leaves garbage the agent will not need again (the unlock's
 * Argon2id memory, parsed inputs): collect it once and return the freed heap
 * to the system, so the agent idles at its working size. A no-op without
 * V8's `--expose-gc` (lib/sandbox/launch.ts passes it).
 */
function collectStartupGarbage(libc: Libc): void {
  (globalThis as { gc?: () => void }).gc?.();
  libc.trimHeap();
}

/** Exit status of an agent that stopped on an error outside any request (EX_SOFTWARE). */
export const FATAL_EXIT = 70;

/**
 * Ends the process on an error no request owns: the agent's state is then
 * unknown, so it stops (systemd restarts it) with one fixed line naming only
 * the error's type; a foreign message could quote request or secret bytes.
 * Errors inside a request never get here: the transport answers them.
 */
export function installFatalHandlers(): void {
  const fatal = (what: string, e: unknown) => {
    stderrLine(
      `basil agent: fatal ${what} (${e instanceof Error ? e.name : "non-error value"}); exiting\n`,
    );
    Deno.exit(FATAL_EXIT);
  };
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    fatal("unhandled rejection", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    fatal("uncaught exception", e.error);
  });
}

/** Runs the agent to completion; returns the process exit code. */
export async function runAgent(args: AgentArgs): Promise<number> {
  installFatalHandlers();
  let agent: RunningAgent;
  try {
    agent = await startAgent(args);
  } catch (e) {
    stderrLine(`basil agent: ${oneLine(e)}\n`);
    return 1;
  }
  await agent.done;
  return 0;
}

/** One line for a start-up failure. Non-input errors say only their type. */
function oneLine(e: unknown): string {
  if (e instanceof InputError) return e.message.split("\n").join("; ");
  if (e instanceof Deno.errors.NotCapable) return `outside the agent's sandbox: ${e.message}`;
  return `internal error (${e instanceof Error ? e.name : "unknown"})`;
}
