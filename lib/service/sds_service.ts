/**
 * Envoy's SecretDiscoveryService on the broker socket (contract §4.6):
 * `FetchSecrets` answers once; `StreamSecrets` answers the request, then
 * (beyond upstream, which holds the stream silently) pushes the full set of
 * requested secrets again whenever the caller's SVID is re-issued (half-life
 * refresh or CA rotation) or a trust bundle changes (BundleChanged), until
 * the client goes away. Plain gRPC statuses, no BrokerErrorInfo. One audit
 * record set per call, written before the first response. `DeltaSecrets`
 * is not served (UNIMPLEMENTED). The transport reads one request message
 * per call, so a StreamSecrets client sends its DiscoveryRequest and
 * half-closes; ACK/NACK requests on the same stream are not read.
 * @module
 */

import { BasilError } from "../core/errors.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import { authorizeSds } from "../spiffe/sds.ts";
import type { SdsResource } from "../spiffe/sds.ts";
import { missingBundle, sdsResponse } from "../spiffe/sds_secrets.ts";
import type { SdsResponse } from "../spiffe/sds_secrets.ts";
import type { ServedSvid, SvidSubscription } from "../spiffe/svid_source.ts";
import type { WorkloadApi } from "../spiffe/workload.ts";
import { SecretDiscoveryService } from "../wire/envoy/service/secret/v3/sds_pb.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

/** Resolves when the call is cancelled. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((r) => {
    if (signal.aborted) r();
    else signal.addEventListener("abort", () => r(), { once: true });
  });
}

/** The SVIDs of a request's certificate resources, kept current by the SVID source. */
class SvidSet {
  readonly current = new Map<string, ServedSvid>();
  readonly #subs: SvidSubscription[] = [];

  static async open(
    api: WorkloadApi,
    resources: readonly SdsResource[],
    onChange: () => void,
  ): Promise<SvidSet> {
    const set = new SvidSet();
    try {
      for (const r of resources) {
        if (r.kind !== "certificate") continue;
        const sub = await api.source.subscribe(r.issuer, r.spiffeId, (svid) => {
          set.current.set(r.name, svid);
          onChange();
        });
        set.#subs.push(sub);
        // A refresh that landed while subscribing is newer than the subscription's SVID.
        if (!set.current.has(r.name)) set.current.set(r.name, sub.svid);
      }
    } catch (e) {
      set.close();
      throw e;
    }
    return set;
  }

  close(): void {
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }
}

async function build(
  api: WorkloadApi,
  resources: readonly SdsResource[],
  svids: SvidSet,
  nonce: number,
  gen?: Generation,
): Promise<SdsResponse> {
  const bundles = resources.some((r) => r.kind === "validation")
    ? await api.x509Bundles(gen)
    : new Map<string, Uint8Array>();
  const missing = missingBundle(resources, bundles);
  if (missing !== undefined) {
    throw new BasilError("FAILED_PRECONDITION", "no X.509 trust bundle is configured");
  }
  return sdsResponse(resources, svids.current, bundles, String(nonce));
}

/** The SecretDiscoveryService binding. */
export function sdsService(deps: BrokerDeps, api: WorkloadApi): ServiceBinding {
  return bindBrokerService(deps, SecretDiscoveryService, {
    async fetchSecrets(req, ctx) {
      const grant = authorizeSds(deps, ctx.call, req.typeUrl, req.resourceNames);
      const svids = await SvidSet.open(api, grant.resources, () => {});
      try {
        const res = await build(api, grant.resources, svids, 1, grant.gen);
        ctx.defer(() => res.wipe());
        return res.message;
      } finally {
        svids.close();
      }
    },
    async streamSecrets(req, ctx, send) {
      const grant = authorizeSds(deps, ctx.call, req.typeUrl, req.resourceNames);
      let nonce = 0;
      let started = false;
      let owed = false;
      // Pushes run one at a time, each from the state current when it starts.
      let queue: Promise<void> = Promise.resolve();
      const sendNow = async (gen?: Generation) => {
        const res = await build(api, grant.resources, svids, ++nonce, gen);
        try {
          await send(res.message);
        } finally {
          res.wipe();
        }
      };
      const push = () => {
        if (ctx.signal.aborted) return;
        if (!started) {
          owed = true;
          return;
        }
        queue = queue.then(() => sendNow()).catch((e) => {
          // A push that cannot be built or sent ends the stream (Envoy reconnects)
          // instead of leaving it open with no more updates.
          pushFailed ??= e;
          events.close();
        });
      };
      let pushFailed: unknown;
      const events = deps.events.subscribe((e) => e.kind === "bundle_changed");
      const svids = await SvidSet.open(api, grant.resources, push).catch((e) => {
        events.close();
        throw e;
      });
      try {
        // The first response settles the call's audit record; a failure ends the stream.
        await sendNow(grant.gen);
        started = true;
        if (owed) push();
        aborted(ctx.signal).then(() => events.close());
        for await (const _ of events) {
          if (ctx.signal.aborted) break;
          push();
        }
      } finally {
        events.close();
        svids.close();
        await queue;
      }
      if (pushFailed !== undefined && !ctx.signal.aborted) {
        throw new BasilError("INTERNAL", undefined, {
          detail: `sds push failed: ${pushFailed instanceof Error ? pushFailed.name : "error"}`,
        });
      }
    },
  }, { plainErrors: true });
}
