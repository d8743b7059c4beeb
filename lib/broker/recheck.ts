/**
 * Open streams keep their grant only while the serving policy still gives
 * it. After every reload, a stream's decision is taken again on the new
 * generation, as its own audited request (one record per decision, as for
 * any call): an allowed decision goes to the stream (which may move to
 * another issuer or identity the new catalog names), a refusal ends the
 * stream with that refusal. Re-decisions of one stream run one at a time.
 * @module
 */

import { runCall } from "./call.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import type { PeerIdentity } from "../policy/pdp.ts";

/** What a stream re-decides with, and where the verdicts go. */
export interface Recheck<T> {
  /** Takes the stream's decision again (throws the refusal). */
  readonly decide: (call: BrokerCall) => T | Promise<T>;
  /** Hears an allowed re-decision. */
  readonly allowed?: (verdict: T) => void | Promise<void>;
  /** Hears the refusal (or failure) that ends the stream; called once. */
  readonly refused: (e: unknown) => void;
}

/** Re-decides after each reload until `signal` aborts or the returned function is called. */
export function recheckOnReload<T>(
  deps: BrokerDeps,
  peer: PeerIdentity | undefined,
  signal: AbortSignal,
  r: Recheck<T>,
): () => void {
  let chain: Promise<void> = Promise.resolve();
  let over = false;
  const stop = deps.state.onSwap(() => {
    chain = chain.then(async () => {
      if (over || signal.aborted) return;
      try {
        const verdict = await runCall(
          deps,
          peer,
          signal,
          (call) => Promise.resolve(r.decide(call)),
        );
        if (!over && !signal.aborted) await r.allowed?.(verdict);
      } catch (e) {
        if (over || signal.aborted) return;
        over = true;
        r.refused(e);
      }
    });
  });
  const end = () => {
    over = true;
    stop();
  };
  signal.addEventListener("abort", end, { once: true });
  return end;
}
