/**
 * The live material behind one SDS subscription: the caller's SVIDs for its
 * certificate resources, kept current by the SVID source, and the response
 * built from them and the trust bundles of the moment.
 * @module
 */

import { BasilError } from "../core/errors.ts";
import type { Generation } from "../broker/state.ts";
import type { SdsResource } from "./sds.ts";
import { missingBundle, sdsResponse } from "./sds_secrets.ts";
import type { SdsResponse } from "./sds_secrets.ts";
import type { ServedSvid, SvidSubscription } from "./svid_source.ts";
import type { WorkloadApi } from "./workload.ts";

/** The SVIDs of a request's certificate resources, kept current by the SVID source. */
export class SvidSet {
  readonly current = new Map<string, ServedSvid>();
  readonly #subs: SvidSubscription[] = [];

  /** Subscribes to each certificate resource; `onChange` hears every re-issue. */
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

  /** Stops hearing re-issues. */
  close(): void {
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }
}

/** The response for `resources` now (bundles from `gen`, else the current generation). */
export async function buildSdsResponse(
  api: WorkloadApi,
  resources: readonly SdsResource[],
  svids: SvidSet,
  nonce: number,
  gen?: Generation,
): Promise<SdsResponse> {
  const bundles = resources.some((r) => r.kind === "validation")
    ? await api.x509Bundles(gen)
    : new Map<string, Uint8Array>();
  if (missingBundle(resources, bundles) !== undefined) {
    throw new BasilError("FAILED_PRECONDITION", "no X.509 trust bundle is configured");
  }
  return sdsResponse(resources, svids.current, bundles, String(nonce));
}
