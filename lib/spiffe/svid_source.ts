/**
 * X.509-SVIDs minted ahead and pushed, as SPIRE does: the first request for
 * an identity issues its SVID; from then on a timer re-issues it at half of
 * its lifetime and pushes the fresh SVID to every open stream, so issuance is
 * off the request path. A CA rotation re-issues at once. Identities nobody
 * watches any more stop being refreshed.
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
  readonly notAfter: Date;
}

type Listener = (svid: ServedSvid) => void;

interface Entry {
  issuer: Issuer;
  spiffeId: string;
  current: Promise<ServedSvid>;
  listeners: Set<Listener>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The cache of SVIDs per (issuer, SPIFFE ID). */
export class X509SvidSource {
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(
    private readonly deps: BrokerDeps,
    private readonly ttlSecs: number,
    private readonly bundleOf: (issuer: Issuer) => Promise<Uint8Array>,
  ) {}

  #issue(issuer: Issuer, spiffeId: string): Promise<ServedSvid> {
    const pki = this.deps.backends.get(issuer.key.backend)?.pki;
    if (!pki) return Promise.reject(new Error("issuer has no pki engine"));
    return (async () => {
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
          bundleDer: await this.bundleOf(issuer),
          notAfter: cert.notAfter,
        };
      } finally {
        cert.privateKeyPkcs8.wipe();
      }
    })();
  }

  #schedule(key: string, e: Entry): void {
    if (this.#closed) return;
    e.timer = setTimeout(() => this.#refresh(key), (this.ttlSecs * 1000) / 2);
  }

  #refresh(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    e.timer = undefined;
    if (e.listeners.size === 0) {
      this.#entries.delete(key);
      return;
    }
    const next = this.#issue(e.issuer, e.spiffeId);
    next.then((svid) => {
      e.current = next;
      for (const l of e.listeners) l(svid);
      this.#schedule(key, e);
    }, (err) => {
      this.deps.logger.log("error", "SVID refresh failed; retrying", {
        spiffe_id: e.spiffeId,
        error: err instanceof Error ? err.message : "error",
      });
      e.timer = setTimeout(() => this.#refresh(key), 5000);
    });
  }

  /** The current SVID for an identity, issued now if there is none. */
  get(issuer: Issuer, spiffeId: string): Promise<ServedSvid> {
    const key = `${issuer.key.name}\u0000${spiffeId}`;
    let e = this.#entries.get(key);
    if (!e) {
      e = {
        issuer,
        spiffeId,
        current: this.#issue(issuer, spiffeId),
        listeners: new Set(),
        timer: undefined,
      };
      this.#entries.set(key, e);
      const entry = e;
      entry.current.then(() => this.#schedule(key, entry), () => this.#entries.delete(key));
    }
    return e.current;
  }

  /** Calls `listener` with every refreshed SVID until the returned function is called. */
  watch(issuer: Issuer, spiffeId: string, listener: Listener): () => void {
    const key = `${issuer.key.name}\u0000${spiffeId}`;
    const e = this.#entries.get(key);
    if (!e) return () => {};
    e.listeners.add(listener);
    return () => e.listeners.delete(listener);
  }

  /** Re-issues every SVID of an issuer now (after a CA rotation). */
  reissue(issuerKeyName: string): void {
    for (const [key, e] of this.#entries) {
      if (e.issuer.key.name !== issuerKeyName) continue;
      if (e.timer !== undefined) clearTimeout(e.timer);
      this.#refresh(key);
    }
  }

  /** Stops every timer. */
  close(): void {
    this.#closed = true;
    for (const e of this.#entries.values()) if (e.timer !== undefined) clearTimeout(e.timer);
    this.#entries.clear();
  }
}
