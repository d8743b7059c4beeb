/**
 * The broker's change events (KeyRotated, BundleChanged, Revoked), fanned out
 * to Watch streams and SVID streams. Each subscriber has a bounded buffer
 * (1024 events); a subscriber that falls behind is dropped and told so, never
 * allowed to block the publisher or grow memory without bound.
 * @module
 */

/** One event. */
export type BrokerEvent =
  | {
    readonly kind: "key_rotated";
    readonly at: Date;
    readonly keyId: string;
    readonly newVersion: number;
  }
  | { readonly kind: "bundle_changed"; readonly at: Date; readonly trustDomain: string }
  | {
    readonly kind: "revoked";
    readonly at: Date;
    readonly trustDomain: string;
    readonly id: string;
  };

/** Buffer size per subscriber. */
export const EVENT_BUFFER = 1024;

/** A subscription: an async iterator over events, ended by `close()` or lag. */
export interface Subscription extends AsyncIterable<BrokerEvent> {
  /** Set when the subscriber fell more than EVENT_BUFFER events behind. */
  readonly lagged: boolean;
  close(): void;
}

/** Publish/subscribe for broker events. */
export class EventBus {
  readonly #subs = new Set<Sub>();

  /** Delivers `e` to every subscriber (never blocks). */
  publish(e: BrokerEvent): void {
    for (const s of this.#subs) s.push(e);
  }

  /** A new subscription; `accept` filters per subscriber. */
  subscribe(accept: (e: BrokerEvent) => boolean = () => true): Subscription {
    const sub = new Sub(accept, () => this.#subs.delete(sub));
    this.#subs.add(sub);
    return sub;
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.#subs.size;
  }
}

class Sub implements Subscription {
  #queue: BrokerEvent[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  lagged = false;

  constructor(
    private readonly accept: (e: BrokerEvent) => boolean,
    private readonly onClose: () => void,
  ) {}

  push(e: BrokerEvent): void {
    if (this.#closed || !this.accept(e)) return;
    if (this.#queue.length >= EVENT_BUFFER) {
      this.lagged = true;
      this.close();
      return;
    }
    this.#queue.push(e);
    this.#wake?.();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose();
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<BrokerEvent> {
    while (true) {
      const e = this.#queue.shift();
      if (e) {
        yield e;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
    }
  }
}
