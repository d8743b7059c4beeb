/**
 * The later request messages of a bidirectional call, between the
 * connection (which pushes them as they arrive) and the method (which
 * iterates them). Bounded: more unread messages or bytes than the limits
 * allow is the caller's fault, reported by {@linkcode RequestQueue.push}
 * so the call can be ended, never buffered without end. A message the
 * method has been given is zeroed when it asks for the next one or stops
 * iterating; messages never taken are zeroed when the queue ends.
 * @module
 */

/** Unread messages one call may hold. */
export const MAX_QUEUED_MESSAGES = 32;

/** A single-consumer queue of request messages. */
export class RequestQueue implements AsyncIterable<Uint8Array> {
  readonly #maxBytes: number;
  readonly #items: Uint8Array[] = [];
  #bytes = 0;
  #ended = false;
  #error: unknown;
  #waiter: ((m: Uint8Array | undefined) => void) | undefined;
  #failWaiter: ((e: unknown) => void) | undefined;

  /** `maxBytes`: most unread bytes held at once. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /**
   * Adds a message (the queue owns it). Returns false, and zeroes it, when
   * the queue would exceed its limits; a message after the end is zeroed.
   */
  push(message: Uint8Array): boolean {
    if (this.#ended) {
      message.fill(0);
      return true;
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = this.#failWaiter = undefined;
      waiter(message);
      return true;
    }
    if (
      this.#items.length >= MAX_QUEUED_MESSAGES || this.#bytes + message.length > this.#maxBytes
    ) {
      message.fill(0);
      return false;
    }
    this.#items.push(message);
    this.#bytes += message.length;
    return true;
  }

  /** The client half-closed: iteration ends after the messages already queued. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#wake(undefined);
  }

  /** The call is over: iteration throws `error`; unread messages are zeroed. */
  fail(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#ended = true;
    this.#wipe();
    const fail = this.#failWaiter;
    this.#waiter = this.#failWaiter = undefined;
    fail?.(error);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    let lent: Uint8Array | undefined;
    try {
      while (true) {
        lent?.fill(0);
        lent = await this.#next();
        if (lent === undefined) return;
        yield lent;
      }
    } finally {
      lent?.fill(0);
    }
  }

  #next(): Promise<Uint8Array | undefined> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    const m = this.#items.shift();
    if (m !== undefined) {
      this.#bytes -= m.length;
      return Promise.resolve(m);
    }
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }

  #wake(m: Uint8Array | undefined): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = this.#failWaiter = undefined;
    waiter(m);
  }

  #wipe(): void {
    for (const m of this.#items.splice(0)) m.fill(0);
    this.#bytes = 0;
  }
}
