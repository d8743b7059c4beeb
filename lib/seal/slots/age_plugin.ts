/**
 * The client side of the age plugin protocol (C2SP age-plugin, v1 state
 * machines), enough to wrap one file key to a plugin recipient
 * (`recipient-v1`) and unwrap one file's stanzas with plugin identities
 * (`identity-v1`). The plugin binary `age-plugin-NAME` is found on PATH.
 *
 * Invariants:
 * - Phase 1 is sent in full, then the plugin drives phase 2: `msg` → `ok`
 *   (shown through the callback), `request-secret`/`request-public` →
 *   `ok` with the answer or `fail` when there is no UI, `confirm` → `fail`,
 *   `file-key`/`recipient-stanza`/`error` → `ok`, anything else →
 *   `unsupported`; `done` ends the session.
 * - The whole exchange has a deadline (default 5 minutes, enough for a
 *   touch); on expiry the plugin is killed. The plugin's stderr is
 *   discarded; its `error` messages are kept, sanitized and capped, for the
 *   caller's error text.
 * - Secret bodies (file keys, PINs) stay bytes and are wiped after use on
 *   every path: phase-1 buffers whether sent or not (a plugin that cannot
 *   start, a failed write), each received body and each reply, and an
 *   unwrapped file key when the session fails after receiving it.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";
import { encodeStanza, StanzaError, StanzaReader, type WireStanza } from "./age_stanza.ts";

/** A running plugin process (or an in-process stand-in for tests). */
export interface PluginConnection {
  /** The plugin's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Writes to the plugin's stdin. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes stdin and waits for the plugin to end. */
  close(): Promise<void>;
  /** Kills the plugin (deadline passed or protocol error). */
  kill(): void;
}

/** Starts `binary --age-plugin=<stateMachine>`; throws `InputError` if it cannot. */
export type PluginLauncher = (binary: string, stateMachine: string) => PluginConnection;

/** How the plugin may talk to the user. */
export interface PluginCallbacks {
  /** Shows a plugin message (e.g. "touch your YubiKey"). */
  message?(text: string): void;
  /** Asks for a secret such as a PIN; `undefined` answers `fail`. */
  requestSecret?(prompt: string): Promise<SecretBytes | undefined>;
}

/** Options for one plugin session. */
export interface PluginOptions {
  readonly launcher?: PluginLauncher;
  readonly callbacks?: PluginCallbacks;
  /** Deadline for the whole exchange (default 300 000 ms). */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/** The binary for plugin `name`. */
export function pluginBinary(name: string): string {
  return `age-plugin-${name}`;
}

/** The default launcher: a child process found on PATH, stderr discarded. */
export const spawnPlugin: PluginLauncher = (
  binary: string,
  stateMachine: string,
): PluginConnection => {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(binary, {
      args: [`--age-plugin=${stateMachine}`],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError("age_plugin_missing", `${binary} was not found on PATH`);
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new InputError(
        "age_plugin_denied",
        `not permitted to run ${binary} (it must be allowed in the sandbox)`,
      );
    }
    throw new InputError("age_plugin_failed", `cannot start ${binary}`);
  }
  const writer = child.stdin.getWriter();
  return {
    stdout: child.stdout,
    write: (bytes) => writer.write(bytes),
    async close() {
      try {
        await writer.close();
      } catch { /* plugin already closed its stdin */ }
      await child.status;
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
  };
};

/** Printable, single-line, capped text from a plugin-supplied body. */
export function sanitize(bytes: Uint8Array): string {
  return sanitizeText(new TextDecoder().decode(bytes));
}

/** Printable ASCII, single-line, capped text from plugin-supplied text (e.g. stanza args). */
export function sanitizeText(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]+/g, " ").replace(/ {2,}/g, " ").trim();
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

function wipeAll(buffers: readonly Uint8Array[]): void {
  for (const b of buffers) b.fill(0);
}

type Handler = (s: WireStanza) => Promise<Uint8Array | undefined>;

class Session {
  readonly errors: string[] = [];
  readonly #binary: string;
  readonly #o: PluginOptions;

  constructor(binary: string, o: PluginOptions) {
    this.#binary = binary;
    this.#o = o;
  }

  /**
   * Runs phase 1 then phase 2; `handle` answers the commands it knows. Every
   * `phase1` buffer is wiped when this returns or throws, sent or not.
   */
  async run(stateMachine: string, phase1: Uint8Array[], handle: Handler): Promise<void> {
    try {
      await this.#run(stateMachine, phase1, handle);
    } finally {
      wipeAll(phase1);
    }
  }

  async #run(stateMachine: string, phase1: Uint8Array[], handle: Handler): Promise<void> {
    const conn = (this.#o.launcher ?? spawnPlugin)(this.#binary, stateMachine);
    const reader = new StanzaReader(conn.stdout);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        conn.kill();
        reject(new InputError("age_plugin_timeout", `${this.#binary} did not finish in time`));
      }, this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.#exchange(conn, reader, phase1, handle), deadline]);
      await Promise.race([conn.close(), deadline]);
    } catch (e) {
      conn.kill();
      if (e instanceof InputError) throw e;
      if (e instanceof StanzaError) {
        throw new InputError("age_plugin_protocol", `${this.#binary}: ${e.message}`);
      }
      throw new InputError(
        "age_plugin_failed",
        `${this.#binary} failed (${e instanceof Error ? e.name : "error"})`,
      );
    } finally {
      clearTimeout(timer);
      reader.release();
    }
  }

  async #exchange(
    conn: PluginConnection,
    reader: StanzaReader,
    phase1: Uint8Array[],
    handle: Handler,
  ): Promise<void> {
    for (const s of phase1) {
      await conn.write(s);
      s.fill(0);
    }
    await conn.write(encodeStanza(["done"]));
    for (;;) {
      const s = await reader.next();
      if (s === undefined) {
        throw new InputError("age_plugin_failed", `${this.#binary} exited before finishing`);
      }
      // The body may be a file key and the reply a PIN: both are wiped
      // whether the answer or the write succeeds or throws.
      let reply: Uint8Array | undefined;
      try {
        if (s.args[0] === "done") return;
        reply = await this.#answer(s, handle);
        await conn.write(reply);
      } finally {
        s.body.fill(0);
        reply?.fill(0);
      }
    }
  }

  async #answer(s: WireStanza, handle: Handler): Promise<Uint8Array> {
    switch (s.args[0]) {
      case "msg":
        this.#o.callbacks?.message?.(sanitize(s.body));
        return encodeStanza(["ok"]);
      case "request-secret": {
        const secret = await this.#o.callbacks?.requestSecret?.(sanitize(s.body));
        if (secret === undefined) return encodeStanza(["fail"]);
        try {
          return encodeStanza(["ok"], secret.expose());
        } finally {
          secret.wipe();
        }
      }
      case "request-public":
      case "confirm":
        return encodeStanza(["fail"]);
      case "error":
        this.errors.push(sanitize(s.body) || sanitizeText(s.args.slice(1).join(" ")));
        return encodeStanza(["ok"]);
      default:
        return (await handle(s)) ?? encodeStanza(["unsupported"]);
    }
  }
}

function failure(binary: string, what: string, errors: readonly string[]): InputError {
  const detail = errors.length > 0 ? `: ${errors.join("; ")}` : "";
  return new InputError("age_plugin_failed", `${binary} ${what}${detail}`);
}

/**
 * Unwraps one file's stanzas with plugin identities: the 16-byte file key,
 * or `null` when the plugin found nothing for these identities. Throws
 * `InputError` when the plugin cannot run or reports an error.
 */
export async function pluginUnwrap(
  name: string,
  identities: readonly string[],
  stanzas: readonly WireStanza[],
  o: PluginOptions = {},
): Promise<Uint8Array | null> {
  const binary = pluginBinary(name);
  const session = new Session(binary, o);
  const got: { fileKey: Uint8Array | null } = { fileKey: null };
  const phase1 = [
    ...identities.map((id) => encodeStanza(["add-identity", id])),
    ...stanzas.map((s) => encodeStanza(["recipient-stanza", "0", ...s.args], s.body)),
  ];
  try {
    await session.run("identity-v1", phase1, (s) => {
      if (s.args[0] !== "file-key") return Promise.resolve(undefined);
      if (s.args[1] === "0" && got.fileKey === null) got.fileKey = s.body.slice();
      return Promise.resolve(encodeStanza(["ok"]));
    });
  } catch (e) {
    // The plugin may have sent the file key before the session failed.
    got.fileKey?.fill(0);
    throw e;
  }
  if (got.fileKey === null && session.errors.length > 0) {
    throw failure(binary, "could not unwrap the slot", session.errors);
  }
  return got.fileKey;
}

/** Wraps a file key to one plugin recipient: the stanzas to put in the age header. */
export async function pluginWrap(
  name: string,
  recipient: string,
  fileKey: Uint8Array,
  o: PluginOptions = {},
): Promise<WireStanza[]> {
  const binary = pluginBinary(name);
  const session = new Session(binary, o);
  const out: WireStanza[] = [];
  const phase1 = [
    encodeStanza(["add-recipient", recipient]),
    encodeStanza(["wrap-file-key"], fileKey),
  ];
  await session.run("recipient-v1", phase1, (s) => {
    if (s.args[0] !== "recipient-stanza") return Promise.resolve(undefined);
    if (s.args[1] === "0" && s.args.length >= 3) {
      out.push({ args: s.args.slice(2), body: s.body.slice() });
    }
    return Promise.resolve(encodeStanza(["ok"]));
  });
  if (session.errors.length > 0 || out.length === 0) {
    throw failure(binary, "could not wrap to the recipient", session.errors);
  }
  return out;
}
