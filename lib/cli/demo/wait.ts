/**
 * Waiting for the demo's agent: it counts as up only once it answers on its
 * socket, first Health (it serves) and then Readiness (every required key is
 * there), retried with a fixed bound. A socket file alone proves nothing: it
 * may be a leftover, or bound before the server accepts calls.
 * @module
 */

import { AdminService } from "../../wire/basil/broker/v1/broker_pb.ts";
import { type BrokerClient, withClient } from "../client.ts";
import { readinessReasonName } from "../commands/admin.ts";

/** One probe of the agent; each call throws or resolves within its own short deadline. */
export interface AgentProbe {
  /** Resolves true when the agent reports itself alive. */
  health(): Promise<boolean>;
  /** The readiness answer; `reason` is the contract's token. */
  readiness(): Promise<{ ready: boolean; reason: string }>;
}

/** Options for {@linkcode waitForAgent}. */
export interface WaitOptions {
  /** Give up after this long (ms). */
  readonly timeoutMs: number;
  /** Pause between attempts (ms). */
  readonly intervalMs: number;
  /** True once the agent process has exited: stop waiting at once. */
  readonly exited: () => boolean;
  /** Clock and sleep, replaceable in tests. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How waiting ended. */
export type WaitResult =
  | { readonly ok: true; readonly attempts: number }
  | { readonly ok: false; readonly attempts: number; readonly why: string };

/** A probe over the agent's socket, each call with a `callTimeoutMs` deadline. */
export function socketProbe(socket: string, callTimeoutMs = 2_000): AgentProbe {
  const once = <T>(fn: (c: BrokerClient) => Promise<T>): Promise<T> =>
    withClient(socket, fn, { timeoutMs: callTimeoutMs });
  return {
    health: () => once(async (c) => (await c.unary(AdminService.method.health, {})).alive),
    readiness: () =>
      once(async (c) => {
        const r = await c.unary(AdminService.method.readiness, {});
        return { ready: r.ready, reason: readinessReasonName(r.reason) };
      }),
  };
}

/**
 * Polls Health, then Readiness, until both answer yes, the agent exits, or
 * `timeoutMs` passes. Never throws: a failed call is one more attempt.
 */
export async function waitForAgent(probe: AgentProbe, o: WaitOptions): Promise<WaitResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.timeoutMs;
  let attempts = 0;
  let alive = false;
  let last = "no answer on the socket";
  while (true) {
    if (o.exited()) return { ok: false, attempts, why: "the agent exited" };
    attempts++;
    try {
      if (!alive) {
        alive = await probe.health();
        if (!alive) last = "the agent reports itself not alive";
      }
      if (alive) {
        const r = await probe.readiness();
        if (r.ready) return { ok: true, attempts };
        last = `the agent is not ready (${r.reason})`;
      }
    } catch (e) {
      last = alive
        ? `readiness failed: ${e instanceof Error ? e.message : String(e)}`
        : `no answer on the socket: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (now() + o.intervalMs > deadline) {
      return { ok: false, attempts, why: `${last} after ${o.timeoutMs} ms` };
    }
    await sleep(o.intervalMs);
  }
}
