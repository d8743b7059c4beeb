/**
 * A real AWS KMS peer for tests: moto's `moto_server` (moto 5.2.1 in the
 * machine's pyenv Python), started on 127.0.0.1 on a free port, with moto's
 * request recorder on, so a test can read back every request moto received
 * (action = the `X-Amz-Target` header, body = the SDK's serialized JSON).
 * Any access key works; `reset()` forgets every key.
 */

import type { Need } from "./peers.ts";

/** Where the pyenv moto_server lives (override: BASIL_TEST_MOTO_SERVER). */
export const MOTO_SERVER = Deno.env.get("BASIL_TEST_MOTO_SERVER") ??
  "/root/.pyenv/versions/3.11.7/bin/moto_server";

/** The need for `gated()`: moto_server must exist. */
export const MOTO: Need = MOTO_SERVER;

/** One request moto received. */
export interface MotoRequest {
  /** The KMS action (`Sign`, `DescribeKey`, ...). */
  readonly action: string;
  /** The request's JSON body. */
  readonly body: Record<string, unknown>;
}

/** Static credentials moto accepts (any work). */
export const MOTO_ENV: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: "AKIDBASILTEST",
  AWS_SECRET_ACCESS_KEY: "basil-test-secret",
  AWS_REGION: "us-east-1",
};

/** A running moto_server. */
export class Moto {
  readonly url: string;
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #dir: string;
  readonly #log: string;

  private constructor(child: Deno.ChildProcess, port: number, dir: string) {
    this.#child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#log = `${dir}/recording.jsonl`;
  }

  /** Starts moto_server and waits (bounded) until it answers HTTP. */
  static async start(timeoutMs = 60_000): Promise<Moto> {
    const dir = await Deno.makeTempDir({ prefix: "basil-moto-" });
    const port = freePort();
    const child = new Deno.Command(MOTO_SERVER, {
      args: ["-H", "127.0.0.1", "-p", String(port)],
      env: {
        MOTO_ENABLE_RECORDING: "1",
        MOTO_RECORDER_FILEPATH: `${dir}/recording.jsonl`,
      },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const m = new Moto(child, port, dir);
    let exited = false;
    child.status.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited) throw new Error("moto_server exited before it answered");
      try {
        const r = await fetch(`${m.url}/moto-api/data.json`);
        await r.body?.cancel();
        if (r.ok) return m;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        await m.stop();
        throw new Error(`moto_server did not answer within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Forgets every key and alias (POST /moto-api/reset) and the recording. */
  async reset(): Promise<void> {
    const r = await fetch(`${this.url}/moto-api/reset`, { method: "POST" });
    await r.body?.cancel();
    if (!r.ok) throw new Error(`moto reset: HTTP ${r.status}`);
    this.clearRecording();
  }

  /** Empties the request recording. */
  clearRecording(): void {
    Deno.writeTextFileSync(this.#log, "");
  }

  /** Every KMS request moto received since the last clear. */
  requests(): MotoRequest[] {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.#log);
    } catch {
      return [];
    }
    const out: MotoRequest[] = [];
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const e = JSON.parse(line) as {
        headers: Record<string, string>;
        body: string | null;
        body_encoded: boolean;
      };
      const target = Object.entries(e.headers).find(([k]) => k.toLowerCase() === "x-amz-target")
        ?.[1];
      if (target === undefined || !target.startsWith("TrentService.")) continue;
      const raw = e.body ?? "";
      const text = e.body_encoded ? new TextDecoder().decode(base64(raw)) : raw;
      out.push({ action: target.slice("TrentService.".length), body: JSON.parse(text || "{}") });
    }
    return out;
  }

  /** The set of KMS actions moto received since the last clear. */
  actions(): Set<string> {
    return new Set(this.requests().map((r) => r.action));
  }

  /** Stops moto_server and removes its directory. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

function base64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
