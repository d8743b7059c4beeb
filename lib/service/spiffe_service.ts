/**
 * SpiffeWorkloadAPI on the broker socket (contract §4.5). Every call must
 * carry exactly one `workload.spiffe.io: true` header or fails closed with
 * INVALID_ARGUMENT. Answers are plain gRPC statuses (no BrokerErrorInfo), as
 * SPIFFE clients expect. The streams stay open and push fresh SVIDs and
 * bundles until the client goes away. Every call, the bundle streams
 * included, is attested and audited (one record, written before the first
 * response).
 * @module
 */

import type { JsonObject } from "@bufbuild/protobuf";
import { BasilError } from "../core/errors.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import type { WorkloadApi } from "../spiffe/workload.ts";
import type { ServedSvid } from "../spiffe/svid_source.ts";
import { SpiffeWorkloadAPI } from "../wire/spiffe/workload_pb.ts";
import type { BrokerContext, CallContext } from "./types.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

const HEADER = "workload.spiffe.io";

function requireHeader(ctx: CallContext): void {
  const v = ctx.metadata(HEADER);
  if (v.length !== 1 || v[0] !== "true") {
    throw new BasilError(
      "INVALID_ARGUMENT",
      "SPIFFE Workload API requests require workload.spiffe.io=true",
    );
  }
}

/** Resolves when the call is cancelled. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((r) => {
    if (signal.aborted) r();
    else signal.addEventListener("abort", () => r(), { once: true });
  });
}

/** Sends `push()` now and again after every event `accept`s, until cancelled or a push fails. */
async function pushOnChange(
  deps: BrokerDeps,
  ctx: BrokerContext,
  accept: (kind: string) => boolean,
  push: () => Promise<void>,
): Promise<void> {
  const sub = deps.events.subscribe((e) => accept(e.kind));
  try {
    await push();
    aborted(ctx.signal).then(() => sub.close());
    for await (const _ of sub) {
      if (ctx.signal.aborted) break;
      await push();
    }
  } finally {
    sub.close();
  }
}

/** The SpiffeWorkloadAPI binding. */
export function spiffeService(deps: BrokerDeps, api: WorkloadApi): ServiceBinding {
  return bindBrokerService(deps, SpiffeWorkloadAPI, {
    async fetchX509SVID(_req, ctx, send) {
      requireHeader(ctx);
      const toWire = (svid: ServedSvid) => ({
        svids: [{
          spiffeId: svid.spiffeId,
          x509Svid: svid.chainDer,
          x509SvidKey: svid.keyPkcs8,
          bundle: svid.bundleDer,
          hint: "",
        }],
        crl: [],
        federatedBundles: {},
      });
      // `send` encodes at once, so responses leave in the order of these calls.
      let sent: Promise<unknown> = Promise.resolve();
      const push = (svid: ServedSvid) => {
        if (!ctx.signal.aborted) sent = Promise.all([sent, send(toWire(svid)).catch(() => {})]);
      };
      // A refresh may land before the first response is sent: hold it until then.
      let early: ServedSvid[] | undefined = [];
      const sub = await api.x509Svid(ctx.call, (svid) => early ? early.push(svid) : push(svid));
      try {
        // The first response settles the request's audit record; if that
        // fails, nothing is sent and the stream ends with the error.
        await send(toWire(sub.svid));
        for (const svid of early) push(svid);
        early = undefined;
        await aborted(ctx.signal);
      } finally {
        sub.unsubscribe();
        await sent;
      }
    },
    async fetchX509Bundles(_req, ctx, send) {
      requireHeader(ctx);
      let pinned: Generation | undefined = api.authorizeBundles(ctx.call, "x509");
      await pushOnChange(deps, ctx, (k) => k === "bundle_changed", async () => {
        const gen = pinned;
        pinned = undefined;
        const bundles = await api.x509Bundles(gen);
        if (bundles.size === 0) {
          throw new BasilError("FAILED_PRECONDITION", "no X.509 trust bundle is configured");
        }
        await send({ crl: [], bundles: Object.fromEntries(bundles) });
      });
    },
    async fetchJWTSVID(req, ctx) {
      requireHeader(ctx);
      const svids = await api.jwtSvids(ctx.call, req.audience, req.spiffeId);
      return { svids: svids.map((s) => ({ spiffeId: s.spiffeId, svid: s.token, hint: "" })) };
    },
    async fetchJWTBundles(_req, ctx, send) {
      requireHeader(ctx);
      let pinned: Generation | undefined = api.authorizeBundles(ctx.call, "jwt");
      await pushOnChange(deps, ctx, (k) => k === "bundle_changed", async () => {
        const gen = pinned;
        pinned = undefined;
        const bundles = await api.jwtBundles(gen);
        await send({ bundles: Object.fromEntries(bundles) });
      });
    },
    async validateJWTSVID(req, ctx) {
      requireHeader(ctx);
      const v = await api.validate(ctx.call, req.audience, req.svid);
      return { spiffeId: v.spiffeId, claims: v.claims as JsonObject };
    },
  }, { plainErrors: true });
}
