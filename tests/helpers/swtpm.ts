/**
 * A throwaway swtpm (TPM 2.0 simulator) for tests: a fresh state dir, TCP
 * server and control ports on 127.0.0.1 (the swtpm TCTI uses port and
 * port + 1), `startup-clear` so no TPM2_Startup is needed, and tpm2-tools
 * run against it through `TPM2TOOLS_TCTI`. The child is ours: `stop` kills it
 * by its own handle and removes the state dir.
 */

import { countBytes } from "./canary.ts";

/** A running swtpm. */
export class Swtpm implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  readonly #child: Deno.ChildProcess;
  #stopped = false;

  private constructor(port: number, dir: string, child: Deno.ChildProcess) {
    this.port = port;
    this.dir = dir;
    this.#child = child;
  }

  /** The tpm2-tss TCTI config for this instance. */
  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Starts a fresh instance, retrying if the chosen ports were taken meanwhile. */
  static async start(): Promise<Swtpm> {
    let last: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = freePortPair();
      const dir = await Deno.makeTempDir({ prefix: "basil-swtpm-" });
      const child = new Deno.Command("swtpm", {
        args: [
          "socket",
          "--tpm2",
          "--tpmstate",
          `dir=${dir}`,
          "--server",
          `type=tcp,port=${port},bindaddr=127.0.0.1`,
          "--ctrl",
          `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
          "--flags",
          "not-need-init,startup-clear",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const tpm = new Swtpm(port, dir, child);
      try {
        await tpm.#waitReady();
        return tpm;
      } catch (e) {
        last = e;
        await tpm.stop();
      }
    }
    throw new Error("swtpm did not start", { cause: last });
  }

  /**
   * swtpm announces nothing when it listens, so its control port is polled:
   * the condition is a connection it accepts, the loop ends at once if it
   * exits, and only a generous deadline (not a timing assumption) fails it.
   */
  async #waitReady(timeoutMs = 60_000): Promise<void> {
    let exited = false;
    this.#child.status.then(() => exited = true);
    const deadline = Date.now() + timeoutMs;
    while (!exited && Date.now() < deadline) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port + 1 })).close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    throw new Error(
      exited
        ? `swtpm on port ${this.port} exited before listening`
        : `swtpm on port ${this.port} did not listen within ${timeoutMs} ms`,
    );
  }

  /** Runs a tpm2-tools command against this instance; throws on a non-zero exit. */
  async tool(cmd: string, args: string[], cwd?: string): Promise<string> {
    const out = await new Deno.Command(cmd, {
      args,
      cwd,
      env: { TPM2TOOLS_TCTI: this.tcti, TSS2_LOG: "all+none" },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return text;
  }

  /** `tpm2_pcrextend <index>:sha256=<digest>`. */
  async pcrExtend(index: number, digest: Uint8Array): Promise<void> {
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    await this.tool("tpm2_pcrextend", [`${index}:sha256=${hex}`]);
  }

  /** The PolicyPCR digest tpm2-tools computes for `sha256:<pcrs>` (trial session). */
  async policyPcr(pcrs: readonly number[]): Promise<Uint8Array> {
    const work = await Deno.makeTempDir({ prefix: "basil-tpm2tools-" });
    try {
      await this.tool("tpm2_startauthsession", ["-S", "s.ctx"], work);
      await this.tool(
        "tpm2_policypcr",
        ["-S", "s.ctx", "-l", `sha256:${pcrs.join(",")}`, "-L", "policy.bin"],
        work,
      );
      await this.tool("tpm2_flushcontext", ["s.ctx"], work);
      return await Deno.readFile(`${work}/policy.bin`);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  }

  /** Stops the instance and removes its state. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already exited */ }
    await this.#child.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A port p such that p and p + 1 were both free a moment ago. */
function freePortPair(): number {
  for (;;) {
    const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (a.addr as Deno.NetAddr).port;
    try {
      if (port >= 65535) continue;
      const b = Deno.listen({ hostname: "127.0.0.1", port: port + 1 });
      b.close();
      return port;
    } catch {
      /* p + 1 is taken: try another */
    } finally {
      a.close();
    }
  }
}

/** A port nothing listens on (for "no TPM" tests). */
export function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * A TCP relay in front of a {@linkcode Swtpm} (command and control ports)
 * that records every byte in both directions: what a bus sniffer would see.
 * It runs in a Worker because ESYS calls block this thread's event loop.
 */
export class RecordingRelay implements AsyncDisposable {
  readonly port: number;
  readonly #worker: Worker;

  private constructor(port: number, worker: Worker) {
    this.port = port;
    this.#worker = worker;
  }

  /** Starts a relay to `target` on a fresh port pair. */
  static async start(target: Swtpm): Promise<RecordingRelay> {
    const worker = new Worker(new URL("./swtpm_relay_worker.ts", import.meta.url), {
      type: "module",
    });
    const port = freePortPair();
    await call(worker, { op: "start", port, upstream: target.port });
    return new RecordingRelay(port, worker);
  }

  /** The TCTI config that goes through the relay. */
  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Everything relayed so far, both directions, in order. */
  async recorded(): Promise<Uint8Array> {
    return await call(this.#worker, { op: "recorded" }) as Uint8Array;
  }

  /** Stops relaying and ends the worker. */
  async close(): Promise<void> {
    await call(this.#worker, { op: "close" }).catch(() => {});
    this.#worker.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function call(worker: Worker, msg: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent) =>
      e.data.error === undefined ? resolve(e.data.value) : reject(new Error(e.data.error));
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
    worker.postMessage(msg);
  });
}

/** Whether `needle` occurs in `hay`. */
export function containsBytes(hay: Uint8Array, needle: Uint8Array): boolean {
  return countBytes(hay, needle) > 0;
}
