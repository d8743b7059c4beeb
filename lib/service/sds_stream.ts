/**
 * One `StreamSecrets` stream, bidirectional as Envoy speaks it (xDS state of
 * the world, contract §4.6):
 *
 * - The first DiscoveryRequest is authorized inside the stream's audited
 *   request and answered; its audit records settle with that answer.
 * - Later requests: one whose `response_nonce` is not the latest answer's is
 *   stale and ignored; one with `error_detail` is a NACK, logged and not
 *   answered (the same material would be rejected again); one naming the
 *   same resources is an ACK; one naming other resources (Envoy adds a
 *   secret to a stream it already holds) is a new decision, authorized and
 *   audited as its own request, then answered with the new set.
 * - Beyond upstream, the full set is pushed again whenever the caller's SVID
 *   is re-issued (half-life refresh, CA rotation) or a trust bundle changes.
 * - After a reload the subscription is decided again on the new policy and
 *   catalog, as its own audited request: a refusal ends the stream with it;
 *   a resource now served from another issuer or identity is re-subscribed
 *   and pushed; nothing changed, nothing sent.
 * - Answers and pushes go out one at a time, each built from the state when
 *   it starts. A push that cannot be built or sent, a refused change, or a
 *   malformed later request ends the stream with its status (Envoy
 *   reconnects) instead of leaving it open and silent.
 * @module
 */

import { runCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import { BasilError } from "../core/errors.ts";
import { authorizeSds, SECRET_TYPE_URL } from "../spiffe/sds.ts";
import type { SdsGrant, SdsResource } from "../spiffe/sds.ts";
import { buildSdsResponse, SvidSet } from "../spiffe/sds_svids.ts";
import { svidKey } from "../spiffe/svid_source.ts";
import type { WorkloadApi } from "../spiffe/workload.ts";
import type { DiscoveryRequest } from "../wire/envoy/service/discovery/v3/discovery_pb.ts";
import type { DiscoveryResponseSchema } from "../wire/envoy/service/discovery/v3/discovery_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { BrokerContext } from "./types.ts";

type Send = (msg: MessageInitShape<typeof DiscoveryResponseSchema>) => Promise<void>;

/** The fields of a request that say what it subscribes to. */
interface Wanted {
  readonly typeUrl: string;
  readonly resourceNames: readonly string[];
}

/** What a request subscribes to, for telling an ACK from a change. */
function subscriptionKey(req: Wanted): string {
  const type = req.typeUrl === "" ? SECRET_TYPE_URL : req.typeUrl;
  return [type, ...[...new Set(req.resourceNames)].sort()].join("\n");
}

/** Where a grant's material comes from, for telling whether a reload moved it. */
function materialKey(resources: readonly SdsResource[]): string {
  return resources.map((r) =>
    r.kind === "certificate"
      ? `${r.name}\u0000${svidKey(r.issuer, r.spiffeId)}`
      : `${r.name}\u0000${r.trustDomain}`
  ).join("\n");
}

class SdsStream {
  readonly #deps: BrokerDeps;
  readonly #api: WorkloadApi;
  readonly #ctx: BrokerContext;
  readonly #send: Send;
  #resources: readonly SdsResource[] = [];
  #wanted: Wanted = { typeUrl: "", resourceNames: [] };
  #key = "";
  #svids: SvidSet | undefined;
  #nonce = 0;
  #started = false;
  #owed = false;
  #recheckOwed = false;
  #pushWaiting = false;
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown;
  /** Called once when the stream fails. */
  onFailure: () => void = () => {};

  constructor(deps: BrokerDeps, api: WorkloadApi, ctx: BrokerContext, send: Send) {
    this.#deps = deps;
    this.#api = api;
    this.#ctx = ctx;
    this.#send = send;
  }

  /** Opens the first subscription and sends its answer. */
  async start(first: DiscoveryRequest, grant: SdsGrant): Promise<void> {
    await this.#subscribe(first, grant);
    this.#started = true;
    if (this.#owed) this.push();
    if (this.#recheckOwed) this.reloaded();
  }

  /** A reload happened: decide the current subscription again (see the module doc). */
  reloaded(): void {
    if (this.#ctx.signal.aborted || this.#failure !== undefined) return;
    if (!this.#started) {
      this.#recheckOwed = true;
      return;
    }
    this.#enqueue(() => this.#decide(this.#wanted, true));
  }

  /**
   * Queues a push of the current set (after the first answer). A push still
   * waiting its turn already covers a later change (it is built when it
   * starts), so a CA rotation's bundle change and re-issue go out as one
   * push when they come close together.
   */
  push(): void {
    if (this.#ctx.signal.aborted || this.#failure !== undefined) return;
    if (!this.#started) {
      this.#owed = true;
      return;
    }
    if (this.#pushWaiting) return;
    this.#pushWaiting = true;
    this.#enqueue(() => {
      this.#pushWaiting = false;
      return this.#sendNow();
    });
  }

  /** Reads the client's later requests until it half-closes or the call ends. */
  async read(requests: AsyncIterable<DiscoveryRequest>): Promise<void> {
    for await (const req of requests) {
      if (req.responseNonce !== "" && req.responseNonce !== String(this.#nonce)) continue;
      if (req.errorDetail !== undefined) {
        this.#deps.logger.log("warn", "sds response rejected by the client", {
          nonce: req.responseNonce,
          code: req.errorDetail.code,
          message: req.errorDetail.message.slice(0, 200),
        });
        continue;
      }
      if (subscriptionKey(req) === this.#key) continue;
      const wanted = { typeUrl: req.typeUrl, resourceNames: [...req.resourceNames] };
      this.#enqueue(() => this.#decide(wanted, false));
    }
  }

  /** Ends the stream with `e` (the first failure wins). */
  fail(e: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = e;
    this.onFailure();
  }

  /** Waits for the pushes under way and stops hearing re-issues. */
  async close(): Promise<void> {
    this.#failure ??= null;
    await this.#queue;
    this.#svids?.close();
  }

  /** Throws the failure that ended the stream, as the client should see it. */
  throwFailure(): void {
    const e = this.#failure;
    if (e === undefined || e === null || this.#ctx.signal.aborted) return;
    if (e instanceof BasilError && e.code !== "INTERNAL") throw e;
    throw new BasilError("INTERNAL", undefined, {
      detail: `sds push failed: ${e instanceof Error ? e.name : "error"}`,
    });
  }

  /**
   * A new decision on `wanted`, as its own audited request; then the
   * subscription moves to it and answers (only if its material moved, when
   * `onlyIfMoved`). A refusal throws, which ends the stream.
   */
  #decide(wanted: Wanted, onlyIfMoved: boolean): Promise<void> {
    return runCall(this.#deps, this.#ctx.peer, this.#ctx.signal, async (call) => {
      const grant = authorizeSds(this.#deps, call, wanted.typeUrl, wanted.resourceNames);
      if (onlyIfMoved && materialKey(grant.resources) === materialKey(this.#resources)) return;
      await this.#subscribe(wanted, grant);
    });
  }

  async #subscribe(req: Wanted, grant: SdsGrant): Promise<void> {
    const svids = await SvidSet.open(this.#api, grant.resources, () => this.push());
    const old = this.#svids;
    this.#svids = svids;
    this.#resources = grant.resources;
    this.#wanted = { typeUrl: req.typeUrl, resourceNames: [...req.resourceNames] };
    this.#key = subscriptionKey(req);
    old?.close();
    await this.#sendNow(grant.gen);
  }

  #enqueue(fn: () => Promise<unknown>): void {
    this.#queue = this.#queue
      .then(() => this.#failure === undefined ? fn() : undefined)
      .then(() => {}, (e) => this.fail(e));
  }

  async #sendNow(gen?: Generation): Promise<void> {
    const res = await buildSdsResponse(
      this.#api,
      this.#resources,
      this.#svids!,
      ++this.#nonce,
      gen,
    );
    try {
      await this.#send(res.message);
    } finally {
      res.wipe();
    }
  }
}

/** Serves one StreamSecrets call until the client goes away or the stream fails. */
export async function serveSdsStream(
  deps: BrokerDeps,
  api: WorkloadApi,
  first: DiscoveryRequest,
  ctx: BrokerContext,
  send: Send,
  requests: AsyncIterable<DiscoveryRequest>,
): Promise<void> {
  const grant = authorizeSds(deps, ctx.call, first.typeUrl, first.resourceNames);
  const stream = new SdsStream(deps, api, ctx, send);
  const events = deps.events.subscribe((e) => e.kind === "bundle_changed");
  const stop = () => events.close();
  stream.onFailure = stop;
  const unwatch = deps.state.onSwap(() => stream.reloaded());
  try {
    // The first answer settles the call's audit record; a failure ends the stream.
    await stream.start(first, grant);
    if (ctx.signal.aborted) return;
    ctx.signal.addEventListener("abort", stop, { once: true });
    // Not awaited: the requests end only once the call is over.
    stream.read(requests).catch((e) => stream.fail(e));
    for await (const _ of events) {
      if (ctx.signal.aborted) break;
      stream.push();
    }
  } finally {
    unwatch();
    events.close();
    await stream.close();
  }
  stream.throwFailure();
}
