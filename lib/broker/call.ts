/**
 * One request's audit trail. Every broker operation takes a
 * {@linkcode BrokerCall}, and the only way to get one is
 * {@linkcode runCall} or {@linkcode runStream}, which settle it from the
 * operation's final result: a decision is recorded as pending when it is
 * made, and written exactly once, in one place ({@linkcode Call.settle}),
 * with the outcome the request really had. No operation writes audit
 * records itself, so none can forget to, or write one that lies.
 *
 * Settling:
 * - unary: when the operation returns (`allow`) or throws (the failure
 *   class, see lib/audit/outcome.ts);
 * - server streams: before the first message is handed to the transport
 *   (`allow`), or when the stream fails or ends before one (a stream that
 *   may stay silent, like Watch, settles once it is live:
 *   {@linkcode BrokerCall.established});
 * - a denial's record always says `deny`.
 *
 * Fail closed:
 * - an allowed result is delivered only after its record was written (and,
 *   under `audit-fsync = "always"`, synced: lib/audit/durability.ts); when
 *   the write or sync fails the caller gets INTERNAL instead (for a stream:
 *   before its first message);
 * - a side-effecting operation ({@linkcode SIDE_EFFECT_OPS}) does not start
 *   while the audit sink is known to be failing (its last write failed): it
 *   is refused with INTERNAL, and that refusal's own record, if it can be
 *   written, shows the sink works again. What this cannot guarantee without
 *   a second, write-ahead line per request: when the sink fails between the
 *   decision and the record of a side effect that already ran, the effect
 *   stays applied; the caller gets INTERNAL and the operator an error log
 *   line naming the op, target and subject.
 * @module
 */

import { failureOutcome } from "../audit/outcome.ts";
import type { InvalidAs } from "../audit/outcome.ts";
import { toAuthzRecord } from "../audit/record.ts";
import type { AuthzEvent, Outcome } from "../audit/record.ts";
import type { AuditSink } from "../audit/sink.ts";
import { BasilError } from "../core/errors.ts";
import { WRITE_OPS } from "../core/ops.ts";
import { agentMetrics, countDecision } from "../metrics/agent.ts";
import type { PeerIdentity } from "../policy/pdp.ts";
import type { BrokerDeps } from "./deps.ts";

/** Operations that change state: refused while the audit sink is known to be failing. */
export const SIDE_EFFECT_OPS: ReadonlySet<string> = new Set([...WRITE_OPS, "revoke"]);

/** A decision as the broker makes it; its outcome is added when the call settles. */
export interface PendingDecision extends Omit<AuthzEvent, "outcome"> {
  /** When the decision was made (the record's `occurred_at`). */
  readonly at: Date;
  /** How input errors after this decision are recorded (default `invalid_request`). */
  readonly invalidAs?: InvalidAs;
}

/** The request-scoped handle every broker operation takes. */
export interface BrokerCall {
  /** Kernel-attested peer, or undefined when the kernel reported none. */
  readonly peer: PeerIdentity | undefined;
  /**
   * Records decisions, written when the call settles. When one of them
   * allows a side-effecting operation and the audit sink is known to be
   * failing, throws INTERNAL after recording them all (the operation must
   * not start; every decision still gets its record).
   */
  record(...decisions: PendingDecision[]): void;
  /**
   * For a stream that may stay silent (Watch): the operation is live, so
   * settle as `allow` now rather than at a first message that may never
   * come. Throws INTERNAL when the record cannot be written.
   */
  established(): void;
}

/** Sinks whose last write failed. */
const failingSinks = new WeakSet<AuditSink>();

function writeTo(sink: AuditSink, record: object): boolean {
  const ok = sink.write(record);
  if (ok) failingSinks.delete(sink);
  else failingSinks.add(sink);
  return ok;
}

/** The error for an allowed operation whose audit record could not be (or cannot be) written. */
function auditUnwritten(op: string | undefined): BasilError {
  return new BasilError("INTERNAL", undefined, {
    op,
    detail: "audit record not written; the allowed operation was refused",
  });
}

class Call implements BrokerCall {
  readonly #decisions: PendingDecision[] = [];
  #settled = false;

  constructor(
    private readonly deps: BrokerDeps,
    readonly peer: PeerIdentity | undefined,
    private readonly streaming: boolean,
  ) {}

  get settled(): boolean {
    return this.#settled;
  }

  record(...decisions: PendingDecision[]): void {
    if (this.#settled) {
      throw new BasilError("INTERNAL", undefined, {
        op: decisions[0]?.op,
        detail: "a decision was made after the call's record was written",
      });
    }
    this.#decisions.push(...decisions);
    const effect = decisions.find((d) => d.allow && SIDE_EFFECT_OPS.has(d.op));
    if (effect && failingSinks.has(this.deps.audit)) throw auditUnwritten(effect.op);
  }

  established(): void {
    if (!this.streaming) throw new TypeError("Only a stream settles before it ends");
    if (this.#settled) return;
    this.succeed();
    // A live stream has released nothing yet: its record's sync is not awaited.
    void this.deps.audit.flush?.();
  }

  /** Settles as `allow`; throws INTERNAL when an allowed decision's record was not written. */
  succeed(): void {
    if (!this.settle(() => "allow")) throw auditUnwritten(this.#decisions[0]?.op);
  }

  /**
   * Settles as `allow` and waits until the records are durable per the
   * sink's `audit-fsync` policy; throws INTERNAL when they were not written
   * or not synced (the result is then withheld).
   */
  async succeedDurably(): Promise<void> {
    this.succeed();
    if (!this.#decisions.some((d) => d.allow)) return;
    const sink = this.deps.audit;
    if (!sink.flush || (await sink.flush())) return;
    failingSinks.add(sink);
    throw auditUnwritten(this.#decisions[0]?.op);
  }

  /** Settles a request that failed with `e` (or ended, a stream, after the client left). */
  fail(e: unknown, clientGone: boolean): void {
    this.settle((d) => failureOutcome(e, clientGone, d.invalidAs ?? "invalid_request"));
  }

  /** Metrics of one settled decision (never key names; subjects only when configured). */
  #count(d: PendingDecision, outcome: Outcome, written: boolean): void {
    if (written) agentMetrics.auditRecords.inc();
    countDecision(d.op, outcome, d.subject);
    if (!d.allow) return;
    const backend = this.deps.state.current().catalog.keys.get(d.targetId)?.backend;
    if (backend === undefined) return;
    if (outcome === "backend_unavailable") agentMetrics.backendUp.set({ backend }, 0);
    else if (outcome === "allow" || outcome === "backend_error") {
      agentMetrics.backendUp.set({ backend }, 1);
    }
  }

  /**
   * Writes every decision's one record (a denial's outcome is always
   * `deny`). Returns whether every allowed decision's record was written.
   */
  settle(outcomeOf: (d: PendingDecision) => Outcome): boolean {
    if (this.#settled) throw new TypeError("The call is already settled");
    this.#settled = true;
    let written = true;
    for (const d of this.#decisions) {
      const outcome = d.allow ? outcomeOf(d) : "deny";
      const ok = writeTo(this.deps.audit, toAuthzRecord({ ...d, outcome }, d.at));
      this.#count(d, outcome, ok);
      if (ok || !d.allow) continue;
      written = false;
      if (outcome === "allow" && SIDE_EFFECT_OPS.has(d.op)) {
        this.deps.logger.log("error", "audit record lost for an applied operation", {
          op: d.op,
          target: d.targetId,
          subject: d.subject,
        });
      }
    }
    return written;
  }
}

/**
 * Runs one unary operation with a fresh {@linkcode BrokerCall} and settles
 * it from the result: `allow` when `fn` resolves (the result is returned
 * only if every allowed decision's record was written, else INTERNAL), the
 * failure class when it throws (the error is rethrown).
 */
export async function runCall<T>(
  deps: BrokerDeps,
  peer: PeerIdentity | undefined,
  signal: AbortSignal,
  fn: (call: BrokerCall) => Promise<T>,
): Promise<T> {
  const call = new Call(deps, peer, false);
  let result: T;
  try {
    result = await fn(call);
  } catch (e) {
    call.fail(e, signal.aborted);
    throw e;
  }
  await call.succeedDurably();
  return result;
}

/**
 * Runs one server-streaming operation with a fresh {@linkcode BrokerCall}.
 * The `send` given to `fn` settles the call as `allow` before it hands over
 * the first message (throwing INTERNAL, with nothing sent, when the record
 * cannot be written, and an AbortError when the client already left). A
 * stream that fails before its first message settles with the failure class;
 * one that ends without a message, as `allow` (or `cancelled` when the
 * client left).
 */
export async function runStream<M>(
  deps: BrokerDeps,
  peer: PeerIdentity | undefined,
  signal: AbortSignal,
  send: (msg: M) => Promise<void>,
  fn: (call: BrokerCall, send: (msg: M) => Promise<void>) => Promise<void>,
): Promise<void> {
  const call = new Call(deps, peer, true);
  const settlingSend = async (msg: M) => {
    if (!call.settled) {
      if (signal.aborted) throw new DOMException("stream cancelled", "AbortError");
      await call.succeedDurably();
    }
    await send(msg);
  };
  try {
    await fn(call, settlingSend);
  } catch (e) {
    if (!call.settled) call.fail(e, signal.aborted);
    throw e;
  }
  if (call.settled) return;
  if (signal.aborted) call.settle(() => "cancelled");
  else await call.succeedDurably();
}
