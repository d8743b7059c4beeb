/**
 * The running bridge: connects to NATS with its own `.creds`, subscribes to
 * the request subject (in the queue group, if any), and couriers each
 * message through {@linkcode handleMessage} with at most
 * `concurrency-limit` Invoke calls in flight; further messages wait in the
 * subscription. `stop()` drains: no new messages are taken, the ones taken
 * are answered, the replies are flushed, then the connection closes.
 * @module
 */

import { connect, credsAuthenticator, headers } from "nats";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { BridgeConfig } from "./config.ts";
import { errorHeaders, handleMessage } from "./courier.ts";
import type { CourierAction } from "./courier.ts";
import type { Invoker } from "./invoker.ts";

/** Where the bridge reports what it does (one structured line per event). */
export type BridgeLog = (
  level: "info" | "warn" | "error",
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** A started bridge. */
export interface RunningBridge {
  /** Drains and closes; resolves when every taken message is answered. */
  stop(): Promise<void>;
  /** Settles when the bridge ends (after `stop()`, or when NATS closes for good). */
  readonly done: Promise<void>;
}

/** Counts Invoke calls in flight and makes the next taker wait for a slot. */
class Slots {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(n: number) {
    this.#free = n;
  }

  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

function publish(nc: NatsConnection, a: CourierAction, log: BridgeLog): void {
  if (a.kind === "drop") {
    log("warn", "nats bridge dropped a message", { error: a.error.code, detail: a.error.message });
    return;
  }
  if (a.error === undefined) {
    nc.publish(a.subject, a.payload);
    return;
  }
  const h = headers();
  for (const [k, v] of errorHeaders(a.error)) h.set(k, v);
  nc.publish(a.subject, a.payload, { headers: h });
  log("warn", "nats bridge answered with an error", {
    error: a.error.code,
    retryable: a.error.retryable,
    detail: a.error.message,
  });
}

/** Connects, subscribes and starts couriering. */
export async function startBridge(
  config: BridgeConfig,
  invoker: Invoker,
  log: BridgeLog,
): Promise<RunningBridge> {
  const creds = config.creds;
  const nc = await connect({
    servers: [...config.natsServers],
    name: "basil-nats-bridge",
    // Read at every (re)connect, so a rotated .creds file is picked up.
    authenticator: creds === undefined
      ? undefined
      : credsAuthenticator(() => Deno.readFileSync(creds)),
    maxReconnectAttempts: -1,
  });
  const sub: Subscription = nc.subscribe(config.requestSubject, {
    queue: config.queueGroup,
  });
  // The server has the subscription once this round trip returns.
  await nc.flush();
  log("info", "nats bridge listening", {
    subject: config.requestSubject,
    queue_group: config.queueGroup ?? null,
    socket: config.socket,
    concurrency_limit: config.concurrencyLimit,
  });
  const slots = new Slots(config.concurrencyLimit);
  const inFlight = new Set<Promise<void>>();
  const courier = async (m: Msg) => {
    try {
      const action = await handleMessage(
        { reply: m.reply, data: m.data },
        config.maxMessageBytes,
        invoker,
      );
      if (!nc.isClosed()) publish(nc, action, log);
    } catch (e) {
      log("error", "nats bridge could not publish an answer", {
        detail: e instanceof Error ? e.message : String(e),
      });
    } finally {
      slots.release();
    }
  };
  const loop = (async () => {
    for await (const m of sub) {
      await slots.acquire();
      const p = courier(m);
      inFlight.add(p);
      p.finally(() => inFlight.delete(p));
    }
  })();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      log("info", "nats bridge draining", { in_flight: inFlight.size });
      if (!nc.isClosed()) await sub.drain().catch(() => {});
      await loop.catch(() => {});
      await Promise.allSettled([...inFlight]);
      if (!nc.isClosed()) await nc.drain().catch(() => {});
      invoker.close();
      log("info", "nats bridge stopped", {});
    })();
  // The bridge ends when NATS closes for good, or when the subscription
  // ends without stop() (say the server refused it): both are failures.
  const done = (async () => {
    const ended = await Promise.race([
      nc.closed().then((e) => e instanceof Error ? e : new Error("the NATS connection closed")),
      loop.then(
        () => new Error("the subscription ended"),
        (e) => e instanceof Error ? e : new Error(String(e)),
      ),
    ]);
    const stopped = stopping !== undefined;
    await stop();
    if (!stopped) throw ended;
  })();
  return { stop, done };
}
