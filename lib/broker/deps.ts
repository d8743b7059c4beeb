/**
 * What the broker needs, passed in by the composition root (lib/daemon.ts).
 * No module below the daemon builds its own dependencies.
 * @module
 */

import type { AuditSink } from "../audit/sink.ts";
import type { Backend } from "../backends/backend.ts";
import type { Logger } from "../core/log.ts";
import type { EventBus } from "./events.ts";
import type { RateLimiter } from "./rate_limit.ts";
import type { Reloader } from "./reload.ts";
import type { GenerationHolder } from "./state.ts";

/** Size caps, TTL caps and version windows from the agent config. */
export interface BrokerLimits {
  readonly maxPayloadSize: number;
  readonly maxEncryptSize: number;
  readonly graceVersions: number;
  /** IssueCertificate's TTL cap (`max-cert-ttl-secs`); DEFAULT_MAX_CERT_TTL_SECS when absent. */
  readonly maxCertTtlSecs?: number;
}

/** The broker's dependencies. */
export interface BrokerDeps {
  readonly state: GenerationHolder;
  /** Backends by catalog backend name. */
  readonly backends: ReadonlyMap<string, Backend>;
  readonly audit: AuditSink;
  /** Change events (KeyRotated, BundleChanged, Revoked). */
  readonly events: EventBus;
  readonly logger: Logger;
  readonly limits: BrokerLimits;
  /** Host user name for a uid (audit presenter), if known. */
  readonly hostUserName: (uid: number) => string | undefined;
  readonly now: () => Date;
  /** Hot reload (SIGHUP and the Reload RPC); without one, Reload answers `no_reload_inputs`. */
  readonly reloader?: Reloader;
  /** The policy's per-subject rate limits are enforced only with a limiter. */
  readonly rateLimiter?: RateLimiter;
}
