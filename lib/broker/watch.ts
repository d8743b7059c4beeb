/**
 * Admin.Watch and Admin.Revoke, gated by explicit `op:watch` over
 * `broker.watch` and `op:revoke` over `broker.revoke`. A watcher only sees
 * KeyRotated for keys it could list, get_public_key or get; BundleChanged and
 * Revoked go to every watcher. A watcher that falls 1024 events behind is cut
 * off with DATA_LOSS; one whose `op:watch` a reload takes away is cut off
 * with that refusal (recheck.ts).
 * @module
 */

import { BasilError, payloadTooLarge } from "../core/errors.ts";
import { decide } from "../policy/pdp.ts";
import { authorizeAdmin } from "./authorize.ts";
import type { Caller } from "./authorize.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import type { BrokerEvent } from "./events.ts";
import { recheckOnReload } from "./recheck.ts";

/** Authorizes a watcher (`op:watch` over `broker.watch`); its request is checked after. */
export function authorizeWatch(deps: BrokerDeps, call: BrokerCall): Caller & { subject: string } {
  return authorizeAdmin(deps, call, "watch");
}

/**
 * Streams events to an authorized watcher until `signal` aborts; throws
 * DATA_LOSS on lag. The call settles (`allow`) once the subscription is
 * live: a watch may rightly stay silent for hours.
 */
export async function watch(
  deps: BrokerDeps,
  caller: Caller & { subject: string },
  kinds: ReadonlySet<BrokerEvent["kind"]>,
  signal: AbortSignal,
  send: (e: BrokerEvent) => Promise<void>,
): Promise<void> {
  const sub = deps.events.subscribe((e) => {
    if (kinds.size > 0 && !kinds.has(e.kind)) return false;
    if (e.kind !== "key_rotated") return true;
    const gen = deps.state.current();
    return (["list", "get_public_key", "get"] as const).some((op) =>
      decide(gen.catalog, gen.policy, caller.subject, op, e.keyId).allow
    );
  });
  signal.addEventListener("abort", () => sub.close(), { once: true });
  if (signal.aborted) sub.close();
  let refusal: unknown;
  const stop = recheckOnReload(deps, caller.call.peer, signal, {
    decide: (call) => authorizeWatch(deps, call),
    refused: (e) => {
      refusal = e;
      sub.close();
    },
  });
  try {
    caller.call.established();
    for await (const e of sub) {
      if (refusal !== undefined) break;
      await send(e);
    }
  } finally {
    stop();
    sub.close();
  }
  if (refusal !== undefined) throw refusal;
  if (sub.lagged) {
    throw new BasilError("DATA_LOSS", "watcher fell behind; events were dropped", { op: "watch" });
  }
}

/** Validates a Revoke request and returns the authorized generation. */
export function authorizeRevoke(
  deps: BrokerDeps,
  call: BrokerCall,
  trustDomain: string,
  jti: string,
): ReturnType<typeof authorizeAdmin> {
  const caller = authorizeAdmin(deps, call, "revoke");
  const max = deps.limits.maxPayloadSize;
  if (trustDomain === "" || jti === "") {
    throw new BasilError("INVALID_ARGUMENT", "trust_domain and jti are required", { op: "revoke" });
  }
  if (trustDomain.startsWith("spiffe://")) {
    throw new BasilError("INVALID_ARGUMENT", "trust_domain must not include spiffe://", {
      op: "revoke",
    });
  }
  if (trustDomain.length > max) throw payloadTooLarge("trust_domain", max, "revoke");
  if (jti.length > max) throw payloadTooLarge("jti", max, "revoke");
  return caller;
}
