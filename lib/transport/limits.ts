/**
 * The HTTP/2 limits of the broker socket, set deliberately (README
 * "Transport"). The socket serves local workloads, so the budgets are sized
 * for many short calls with messages of at most `max-payload-size`/
 * `max-encrypt-size` (1 MiB by default), and for a misbehaving local client
 * costing a bounded amount of memory and no other client's service.
 * @module
 */

import type { H2EngineLimits, H2SessionSettings } from "../../ffi/nghttp2.ts";
import type { H2Limits } from "./h2_connection.ts";

/** Enforced by nghttp2 itself, the same for every session. */
export const ENGINE_LIMITS: H2EngineLimits = {
  // CVE-2024-28182: a header block may span at most 8 CONTINUATION frames.
  maxContinuations: 8,
  // CVE-2023-44487 (rapid reset): 1,000 peer resets at once, refilled at 33/s.
  streamResetBurst: 1000,
  streamResetRatePerSec: 33,
  // PING and SETTINGS floods: at most 1,000 unsent ACKs, 32 entries per SETTINGS.
  maxOutboundAck: 1000,
  maxSettingsEntries: 32,
};

/** The server's SETTINGS for one connection's message budget (`maxMessageBytes`). */
export function sessionSettings(maxMessageBytes: number): H2SessionSettings {
  return {
    // A CLI call uses one stream; an SDK or sidecar may hold hundreds of
    // watch streams on one channel (a client past the cap waits, silently).
    maxConcurrentStreams: 1000,
    // One whole request message (plus its 5-byte prefix) fits a stream's window.
    initialWindowSize: Math.min(2 ** 31 - 1, maxMessageBytes + 5),
    // Metadata is small; a 1 MiB header block is refused stream by stream.
    maxHeaderListSize: 16 * 1024,
    maxFrameSize: 16 * 1024,
    connectionWindowSize: Math.min(2 ** 31 - 1, 4 * (maxMessageBytes + 5)),
  };
}

/** Per-connection limits for a message budget. */
export function connectionLimits(maxMessageBytes: number): H2Limits {
  return {
    settings: sessionSettings(maxMessageBytes),
    // Request bytes not yet handed to a call, across a connection's streams.
    maxBufferedBytes: 8 * (maxMessageBytes + 5),
    // A streaming call waits once it has this much unsent.
    highWaterBytes: 256 * 1024,
    // Slowloris: the preface and first SETTINGS, then each whole request, in time.
    handshakeMs: 10_000,
    requestMs: 30_000,
    // A connection with no stream for 5 minutes is sent GOAWAY (clients reconnect).
    idleMs: 300_000,
  };
}

/** Connections open at once; more are accepted and closed at once (counted). */
export const MAX_CONNECTIONS = 4096;
