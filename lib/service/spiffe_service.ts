/**
 * SpiffeWorkloadAPI on the broker socket (contract §4.5). Every call must
 * carry exactly one `workload.spiffe.io: true` header or fails closed with
 * INVALID_ARGUMENT. Answers are plain gRPC statuses (no BrokerErrorInfo), as
 * SPIFFE clients expect. The streams stay open and push fresh SVIDs and
 * bundles until the client goes away. Every call, the bundle streams
 * included, is attested and audited (one record, written before the first
 * response). After a reload each open stream's decision is taken again
 * (lib/broker/recheck.ts): a refusal ends the stream with it; an SVID stream
 * whose issuer or identity changed moves to the new one and pushes it.
 * @module
 */

import type { JsonObject } from "@bufbuild/protobuf";
import { BasilError } from "../core/errors.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { recheckOnReload } from "../broker/recheck.ts";
import type { Generation } from "../broker/state.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { WorkloadApi } from "../spiffe/workload.ts";
import { svidKey } from "../spiffe/svid_source.ts";
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

/**
 * Sends `push()` now and again after every event `accept`s, until cancelled,
 * a push fails, or a reload's re-decision (`recheck`) refuses the caller.
 */
async function pushOnChange(
  deps: BrokerDeps,
  ctx: BrokerContext,
  accept: (kind: string) => boolean,
  push: () => Promise<void>,
  recheck: (call: BrokerCall) => unknown,
): Promise<void> {
  const sub = deps.events.subscribe((e) => accept(e.kind));
  let refusal: unknown;
  const stop = recheckOnReload(deps, ctx.peer, ctx.signal, {
    decide: recheck,
    refused: (e) => {
      refusal = e;
      sub.close();
    },
  });
  try {
    await push();
    aborted(ctx.signal).then(() => sub.close());
    for await (const _ of sub) {
      if (ctx.signal.aborted || refusal !== undefined) break;
      await push();
    }
  } finally {
    stop();
    sub.close();
  }
  if (refusal !== undefined) throw refusal;
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
      const listener = (svid: ServedSvid) => early ? early.push(svid) : push(svid);
      let grant = api.x509Grant(ctx.call);
      let sub = await api.source.subscribe(grant.issuer, grant.spiffeId, listener);
      let refusal: unknown;
      let refused!: () => void;
      const ended = new Promise<void>((r) => (refused = r));
      const stop = recheckOnReload(deps, ctx.peer, ctx.signal, {
        decide: (call) => api.x509Grant(call),
        allowed: async (next) => {
          if (svidKey(next.issuer, next.spiffeId) === svidKey(grant.issuer, grant.spiffeId)) return;
          const moved = await api.source.subscribe(next.issuer, next.spiffeId, listener);
          sub.unsubscribe();
          sub = moved;
          grant = next;
          if (!early) push(moved.svid);
        },
        refused: (e) => {
          refusal = e;
          refused();
        },
      });
      try {
        // The first response settles the request's audit record; if that
        // fails, nothing is sent and the stream ends with the error.
        await send(toWire(sub.svid));
        for (const svid of early) push(svid);
        early = undefined;
        await Promise.race([aborted(ctx.signal), ended]);
      } finally {
        stop();
        sub.unsubscribe();
        await sent;
      }
      if (refusal !== undefined && !ctx.signal.aborted) throw refusal;
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
      }, (call) => api.authorizeBundles(call, "x509"));
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
      }, (call) => api.authorizeBundles(call, "jwt"));
    },
    async validateJWTSVID(req, ctx) {
      requireHeader(ctx);
      const v = await api.validate(ctx.call, req.audience, req.svid);
      return { spiffeId: v.spiffeId, claims: v.claims as JsonObject };
    },
  }, { plainErrors: true });
}
