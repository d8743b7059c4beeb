/**
 * A throwaway agent workdir for e2e tests: catalog, policy, TOML config, a
 * passphrase file, a DEK and a sealed bundle (built in process with small
 * Argon2 costs, to keep tests fast), plus a running agent started through the
 * real launcher (`basil agent -c`).
 */

import { SecretBytes } from "../../lib/core/secret.ts";
import { createBundle } from "../../lib/seal/bundle.ts";
import type { BackendCred } from "../../lib/seal/creds.ts";
import { PassphraseMethod } from "../../lib/seal/slots/passphrase.ts";
import { basil, basilCommand, ROOT } from "./cli.ts";
import type { BasilOptions, BasilResult } from "./cli.ts";

/** Fast Argon2 costs for test bundles (inside the accepted band). */
export const TEST_ARGON2 = { m_cost_kib: 256, t_cost: 1, p_cost: 1 } as const;

/** Options for {@linkcode Fixture.create}. */
export interface FixtureOptions {
  /** Catalog JSON; `${DB}` in strings is replaced by the keystore path. */
  catalog?: unknown;
  /** Policy JSON, or a function of the test's uid. */
  policy?: unknown | ((uid: number) => unknown);
  /** Extra top-level TOML lines. */
  configExtra?: string;
  /** Extra `[unlock]` TOML lines. */
  unlockExtra?: string;
  /** Socket mode string (default "0600"). */
  socketMode?: string;
  /** Workdir mode (default 0o711 so other uids can reach the socket). */
  dirMode?: number;
  /** Write an audit log (default true). */
  audit?: boolean;
  /** Let the agent wipe the passphrase file after reading it (default false: no-wipe). */
  wipePassphrase?: boolean;
  /**
   * Extra bundle credentials by backend id (say a `VaultToken` for a `vault`
   * backend), sealed next to the keystore's `db` DEK. The bundle encoder
   * only reads them; the caller keeps (and wipes) them.
   */
  backendCreds?: ReadonlyMap<string, BackendCred>;
}

/** A default catalog of value keys on the embedded keystore. */
export function valueCatalog(): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519"],
      },
    },
    keys: {
      "app.db_password": {
        class: "value",
        backend: "db",
        path: "app/db-password",
        writable: true,
        missing: "generate",
        generate: { format: "ascii-printable", bytes: 24 },
        description: "App database password",
      },
      "app.api_token": {
        class: "value",
        backend: "db",
        path: "app/api-token",
        writable: true,
        missing: "warn",
        description: "API token set by the operator",
      },
      "app.readonly": {
        class: "value",
        backend: "db",
        path: "app/readonly",
        writable: false,
        missing: "generate",
        generate: { format: "hex", bytes: 16 },
        description: "A value nobody may write",
      },
      "ops.root_token": {
        class: "value",
        backend: "db",
        path: "ops/root-token",
        writable: true,
        missing: "generate",
        generate: { format: "base64", bytes: 32 },
        description: "Not granted to the app",
      },
    },
  };
}

/** A policy granting `uid` Tier 1 access to `app.*`. */
export function appPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    roles: { reader: ["get", "list"], writer: ["set", "rotate"] },
    rules: [{
      id: "app-values",
      subjects: ["app"],
      action: ["role:reader", "role:writer"],
      target: ["app.*"],
    }],
  };
}

const enc = new TextEncoder();

/** A workdir with every input file written. */
export class Fixture {
  readonly dir: string;
  readonly catalog: string;
  readonly policy: string;
  readonly config: string;
  readonly bundle: string;
  readonly passphrase: string;
  readonly dek: string;
  readonly db: string;
  readonly audit: string;
  readonly socket: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.catalog = `${dir}/catalog.json`;
    this.policy = `${dir}/policy.json`;
    this.config = `${dir}/basil-agent.toml`;
    this.bundle = `${dir}/bundle.sealed`;
    this.passphrase = `${dir}/pass.txt`;
    this.dek = `${dir}/dek.bin`;
    this.db = `${dir}/keystore.db`;
    this.audit = `${dir}/audit.jsonl`;
    this.socket = `${dir}/basil.sock`;
  }

  /** Creates the workdir. The passphrase and DEK are random unless given. */
  static async create(
    o: FixtureOptions = {},
    secrets: { passphrase?: Uint8Array; dek?: Uint8Array } = {},
  ): Promise<Fixture> {
    const dir = await Deno.makeTempDir({ prefix: "basil-e2e-" });
    Deno.chmodSync(dir, o.dirMode ?? 0o711);
    const f = new Fixture(dir);
    const uid = Deno.uid()!;
    const catalog = JSON.stringify(o.catalog ?? valueCatalog(), null, 2).replaceAll("${DB}", f.db);
    Deno.writeTextFileSync(f.catalog, catalog);
    const policy = typeof o.policy === "function" ? o.policy(uid) : o.policy ?? appPolicy(uid);
    Deno.writeTextFileSync(f.policy, JSON.stringify(policy, null, 2));
    f.writeConfig(o);
    const pass = secrets.passphrase ?? enc.encode(crypto.randomUUID());
    const dek = secrets.dek ?? crypto.getRandomValues(new Uint8Array(32));
    Deno.writeFileSync(f.passphrase, pass, { mode: 0o600 });
    Deno.writeFileSync(f.dek, dek, { mode: 0o600 });
    const backends = new Map<string, BackendCred>([
      ["db", { type: "DbKeystoreDek", dek: SecretBytes.copyOf(dek) }],
      ...(o.backendCreds ?? []),
    ]);
    const bytes = await createBundle({
      slots: [{ method: new PassphraseMethod(SecretBytes.copyOf(pass)), label: "passphrase" }],
      backends,
      argon2: TEST_ARGON2,
    });
    Deno.writeFileSync(f.bundle, bytes, { mode: 0o600 });
    return f;
  }

  /** (Re)writes the TOML config. */
  writeConfig(o: FixtureOptions): void {
    const q = (s: string) => JSON.stringify(s);
    const lines = [
      `catalog = ${q(this.catalog)}`,
      `policy = ${q(this.policy)}`,
      `bundle = ${q(this.bundle)}`,
      `socket = ${q(this.socket)}`,
      `socket-mode = ${q(o.socketMode ?? "0600")}`,
      ...(o.audit === false ? [] : [`audit-log = ${q(this.audit)}`]),
      o.configExtra ?? "",
      "[unlock]",
      `unlock-passphrase-file = ${q(this.passphrase)}`,
      o.wipePassphrase ? "" : "unlock-passphrase-no-wipe = true",
      o.unlockExtra ?? "",
    ];
    Deno.writeTextFileSync(this.config, lines.join("\n") + "\n");
  }

  /** Runs the CLI against this workdir's socket. */
  cli(args: readonly string[], o: BasilOptions = {}): Promise<BasilResult> {
    return basil(["--socket", this.socket, ...args], o);
  }

  /** Starts the agent and waits for its socket. */
  async start(): Promise<RunningAgent> {
    const a = RunningAgent.spawn(this);
    await a.ready();
    return a;
  }

  /** Audit records written so far. */
  auditRecords(): Record<string, unknown>[] {
    try {
      return Deno.readTextFileSync(this.audit).trim().split("\n").filter((l) => l !== "")
        .map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  }

  /** Removes the workdir. */
  cleanup(): void {
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* gone */ }
  }
}

/** An agent process: `basil agent` replaces itself (execve) with the sandboxed agent. */
export class RunningAgent {
  readonly child: Deno.ChildProcess;
  readonly #f: Fixture;
  #stderr = "";
  readonly #drained: Promise<void>;
  /** Called after every stderr chunk and once stderr ends. */
  readonly #listeners = new Set<() => void>();

  private constructor(f: Fixture, child: Deno.ChildProcess) {
    this.#f = f;
    this.child = child;
    const dec = new TextDecoder();
    const notify = () => {
      for (const l of [...this.#listeners]) l();
    };
    this.#drained = (async () => {
      try {
        for await (const c of child.stderr) {
          this.#stderr += dec.decode(c, { stream: true });
          notify();
        }
      } finally {
        this.#stderr += dec.decode();
        notify();
      }
    })();
    child.stdout.cancel();
  }

  /** Spawns `basil agent -c <config>` for a fixture. */
  static spawn(f: Fixture, extraArgs: readonly string[] = []): RunningAgent {
    const [cmd, ...args] = basilCommand(["agent", "-c", f.config, ...extraArgs]);
    const child = new Deno.Command(cmd!, {
      args,
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new RunningAgent(f, child);
  }

  /** Everything the agent wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The sandboxed agent process's pid: the launcher's own (it exec'ed the agent). */
  get agentPid(): number {
    return this.child.pid;
  }

  /** Resolves once the agent logs that it listens; throws if it exits first. */
  async ready(timeoutMs = 60_000): Promise<void> {
    await this.waitForStderr((text) => text.includes('"agent listening"'), "listening", timeoutMs);
  }

  /**
   * Resolves when `done(stderr so far)` holds, checked on every stderr chunk
   * the agent writes (an event, not a poll). Throws, with the stderr, if the
   * agent's stderr ends first (it exited) or after a generous `timeoutMs`.
   */
  waitForStderr(
    done: (stderr: string) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let ended = false;
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (done(this.#stderr)) finish();
        else if (ended) finish(new Error(`agent ended before ${what}:\n${this.#stderr}`));
      };
      const timer = setTimeout(
        () => finish(new Error(`agent not ${what} within ${timeoutMs} ms:\n${this.#stderr}`)),
        timeoutMs,
      );
      this.#drained.then(() => (ended = true, check()));
      this.#listeners.add(check);
      check();
    });
  }

  /** Waits for the process to exit; returns its status and stderr. */
  async exited(): Promise<{ code: number; stderr: string }> {
    const s = await this.child.status;
    await this.#drained;
    return { code: s.code, stderr: this.#stderr };
  }

  /** SIGTERM, then wait. */
  async stop(): Promise<{ code: number; stderr: string }> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    return await this.exited();
  }

  get fixture(): Fixture {
    return this.#f;
  }
}

/** Pids whose parent is `ppid` (via `ps`: Deno gates /proc behind --allow-all). */
export function childPids(ppid: number): number[] {
  const o = new Deno.Command("ps", { args: ["-o", "pid=", "--ppid", String(ppid)] }).outputSync();
  return new TextDecoder().decode(o.stdout).split(/\s+/).filter((x) => x !== "").map(Number)
    .sort((a, b) => a - b);
}

/** Reads a /proc file through `cat` (Deno gates /proc behind --allow-all). */
export function readProc(path: string): Uint8Array {
  const o = new Deno.Command("cat", { args: [path] }).outputSync();
  if (o.code !== 0) throw new Error(`cannot read ${path}`);
  return o.stdout;
}

/** Runs an agent to exit (for start-up failures); returns code and stderr. */
export async function runAgentToExit(f: Fixture): Promise<{ code: number; stderr: string }> {
  const a = RunningAgent.spawn(f);
  const timer = setTimeout(() => a.child.kill("SIGKILL"), 60_000);
  try {
    return await a.exited();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `fn` against a started agent on a fresh fixture, then stops the agent
 * and removes the fixture whatever `fn` did.
 */
export async function withAgent<T>(
  o: FixtureOptions,
  fn: (f: Fixture, a: RunningAgent) => Promise<T>,
): Promise<T> {
  const f = await Fixture.create(o);
  try {
    const a = await f.start();
    try {
      return await fn(f, a);
    } finally {
      await a.stop();
    }
  } finally {
    f.cleanup();
  }
}
