/**
 * X.509-SVIDs minted ahead and pushed, as SPIRE does: the first subscriber
 * to an identity triggers its issuance; from then on one timer per identity
 * re-issues it at half of the leaf's actual lifetime (which the CA's own
 * expiry may have cut short) and pushes the fresh SVID to every subscriber,
 * so issuance is off the request path. A CA rotation re-issues at once.
 *
 * Each identity has a generation counter: an issuance whose generation has
 * been overtaken (a rotation landed while it ran) is dropped and wiped, so
 * subscribers only ever receive SVIDs in issue order and at most one timer
 * exists per identity. Subscribers are registered before the first await,
 * so none can miss a refresh. An identity with no subscriber left is dropped
 * at its next refresh. Leaf keys are wiped when they are two generations old
 * (the previous one may still be in a send) and when an identity is dropped.
 * @module
 */

import type { BrokerDeps } from "../broker/deps.ts";
import { concat } from "../core/encoding.ts";
import type { Issuer } from "./issuers.ts";

/** An issued SVID as served on the wire. */
export interface ServedSvid {
  readonly spiffeId: string;
  /** DER chain, leaf first, concatenated. */
  readonly chainDer: Uint8Array;
  /** DER PKCS#8 of the leaf key. */
  readonly keyPkcs8: Uint8Array;
  /** DER CA certificates of the trust domain, concatenated. */
  readonly bundleDer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Receives every SVID issued after the subscription's first one. */
export type SvidListener = (svid: ServedSvid) => void;

/** A subscription: the current SVID, and how to stop receiving refreshes. */
export interface SvidSubscription {
  readonly svid: ServedSvid;
  readonly unsubscribe: () => void;
}

/** How the source sets and clears its timers (tests drive them by hand). */
export interface SvidTimers {
  set(fn: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMERS: SvidTimers = {
  set: (fn, delayMs) => setTimeout(fn, delayMs),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Shortest delay before a refresh or a retry, so an expiring CA cannot spin the loop. */
export const MIN_REFRESH_MS = 1000;
/** Delay before retrying a failed refresh. */
export const RETRY_MS = 5000;

interface Entry {
  readonly issuer: Issuer;
  readonly spiffeId: string;
  readonly listeners: Set<SvidListener>;
  /** Bumped at the start of every issuance; only the newest may land. */
  generation: number;
  current: ServedSvid | undefined;
  previous: ServedSvid | undefined;
  /** Settles with the first SVID that lands (or the first issuance's failure). */
  readonly first: Deferred<ServedSvid>;
  timer: unknown;
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting when it fails; that is not an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function wipeSvid(s: ServedSvid | undefined): void {
  s?.keyPkcs8.fill(0);
}

/**
 * What an SVID is issued from: the issuer's definition (name, backend, path,
 * key type, trust domain) and the SPIFFE ID. After a reload that moves an
 * issuer under the same name, the key differs, so SVIDs come from the new
 * definition.
 */
export function svidKey(issuer: Issuer, spiffeId: string): string {
  const k = issuer.key;
  return [k.name, k.backend, k.path, k.keyType, issuer.trustDomain, spiffeId].join("\u0000");
}

/** The cache of SVIDs per (issuer, SPIFFE ID). */
export class X509SvidSource {
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(
    private readonly deps: BrokerDeps,
    private readonly ttlSecs: number,
    private readonly bundleOf: (issuer: Issuer) => Promise<Uint8Array>,
    private readonly timers: SvidTimers = REAL_TIMERS,
  ) {}

  async #issue(issuer: Issuer, spiffeId: string): Promise<ServedSvid> {
    const pki = this.deps.backends.get(issuer.key.backend)?.pki;
    if (!pki) throw new Error("issuer has no pki engine");
    const bundleDer = await this.bundleOf(issuer);
    const cert = await pki.issue(issuer.key.path, issuer.key.keyType!, {
      dnsSans: [],
      ipSans: [],
      uriSans: [spiffeId],
      ttlSecs: this.ttlSecs,
      svid: true,
    });
    try {
      return {
        spiffeId,
        chainDer: concat(...cert.chainDer),
        keyPkcs8: cert.privateKeyPkcs8.expose().slice(),
        bundleDer,
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
      };
    } finally {
      cert.privateKeyPkcs8.wipe();
    }
  }

  /** Starts an issuance for `e`, superseding any in flight; clears its timer. */
  #start(key: string, e: Entry): void {
    const generation = ++e.generation;
    this.#clearTimer(e);
    this.#issue(e.issuer, e.spiffeId).then(
      (svid) => this.#landed(key, e, generation, svid),
      (err) => this.#failed(key, e, generation, err),
    );
  }

  #live(key: string, e: Entry, generation: number): boolean {
    return !this.#closed && this.#entries.get(key) === e && e.generation === generation;
  }

  #landed(key: string, e: Entry, generation: number, svid: ServedSvid): void {
    if (!this.#live(key, e, generation)) {
      wipeSvid(svid);
      return;
    }
    wipeSvid(e.previous);
    e.previous = e.current;
    e.current = svid;
    // Armed before any listener runs, so a throwing listener cannot stop the refreshes.
    // Half of the leaf's real lifetime, measured from now.
    const half = (svid.notAfter.getTime() - this.deps.now().getTime()) / 2;
    this.#arm(key, e, Math.max(MIN_REFRESH_MS, half));
    if (e.previous === undefined) e.first.resolve(svid);
    else for (const l of e.listeners) this.#notify(e, l, svid);
  }

  #notify(e: Entry, listener: SvidListener, svid: ServedSvid): void {
    try {
      listener(svid);
    } catch (err) {
      this.deps.logger.log("error", "SVID listener failed", {
        spiffe_id: e.spiffeId,
        error: err instanceof Error ? err.name : "error",
      });
    }
  }

  #failed(key: string, e: Entry, generation: number, err: unknown): void {
    if (!this.#live(key, e, generation)) return;
    if (e.current === undefined) {
      // The first issuance failed: its subscribers get the error; nothing is cached.
      this.#drop(key, e);
      e.first.reject(err);
      return;
    }
    this.deps.logger.log("error", "SVID refresh failed; retrying", {
      spiffe_id: e.spiffeId,
      error: err instanceof Error ? err.message : "error",
    });
    this.#arm(key, e, RETRY_MS);
  }

  #arm(key: string, e: Entry, delayMs: number): void {
    this.#clearTimer(e);
    e.timer = this.timers.set(() => {
      e.timer = undefined;
      if (e.listeners.size === 0) this.#drop(key, e);
      else this.#start(key, e);
    }, delayMs);
  }

  #clearTimer(e: Entry): void {
    if (e.timer !== undefined) this.timers.clear(e.timer);
    e.timer = undefined;
  }

  #drop(key: string, e: Entry): void {
    this.#clearTimer(e);
    if (this.#entries.get(key) === e) this.#entries.delete(key);
    wipeSvid(e.previous);
    wipeSvid(e.current);
    e.previous = e.current = undefined;
  }

  /**
   * Subscribes to an identity: resolves with its current SVID (issued now if
   * there is none), and calls `listener` with every later one until
   * `unsubscribe` is called.
   */
  async subscribe(
    issuer: Issuer,
    spiffeId: string,
    listener: SvidListener,
  ): Promise<SvidSubscription> {
    if (this.#closed) throw new Error("the SVID source is closed");
    const key = svidKey(issuer, spiffeId);
    let e = this.#entries.get(key);
    if (!e) {
      e = {
        issuer,
        spiffeId,
        listeners: new Set(),
        generation: 0,
        current: undefined,
        previous: undefined,
        first: deferred(),
        timer: undefined,
      };
      this.#entries.set(key, e);
      this.#start(key, e);
    }
    // Registered before any await: a refresh that lands from here on reaches it.
    const entry = e;
    const own: SvidListener = (svid) => listener(svid);
    entry.listeners.add(own);
    const unsubscribe = () => void entry.listeners.delete(own);
    if (entry.current !== undefined) return { svid: entry.current, unsubscribe };
    try {
      return { svid: await entry.first.promise, unsubscribe };
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }

  /** Re-issues every SVID of an issuer now (after a CA rotation). */
  reissue(issuerKeyName: string): void {
    for (const [key, e] of this.#entries) {
      if (e.issuer.key.name === issuerKeyName) this.#start(key, e);
    }
  }

  /** The number of identities cached (for tests and diagnostics). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Stops every timer and wipes every cached leaf key; a subscriber still
   * waiting for its first SVID is rejected rather than left hanging.
   */
  close(): void {
    this.#closed = true;
    for (const [key, e] of [...this.#entries]) {
      this.#drop(key, e);
      e.first.reject(new Error("the SVID source is closed"));
    }
  }
}
