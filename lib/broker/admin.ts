/**
 * AdminService operations. Health and Readiness are ungated and say nothing
 * secret (Readiness returns counts, never key names). Status needs a caller
 * that resolves to a subject. Explain needs an explicit `op:explain` grant on
 * `broker.explain` and evaluates the serving generation with the same PDP
 * that enforces. Reload needs `op:reload` on `broker.reload` and then runs
 * the agent's {@linkcode Reloader} (reload.ts): a rejection is an answer
 * (`applied: false` and the reason), not an error.
 * @module
 */

import { BasilError } from "../core/errors.ts";
import { isOp } from "../core/ops.ts";
import { PROTOCOL, VERSION } from "../core/version.ts";
import { explainJson } from "../policy/explain.ts";
import type { ExplainJson } from "../policy/explain.ts";
import { decide } from "../policy/pdp.ts";
import { authorizeAdmin, recordDecision, requireSubject } from "./authorize.ts";
import type { BrokerCall } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import type { ReloadResult } from "./reload.ts";

/** Status: backend kind, version and protocol. */
export function status(
  deps: BrokerDeps,
  call: BrokerCall,
): { backend: string; version: string; protocol: number } {
  const caller = requireSubject(deps, call, "status", "broker.status");
  recordDecision(deps, caller, "status", "broker.status", true, `subject:${caller.subject}`);
  const first = [...caller.gen.catalog.backends.keys()][0];
  const backend = first === undefined ? "" : deps.backends.get(first)?.statusName ?? "";
  return { backend, version: VERSION, protocol: PROTOCOL };
}

/** Health: liveness only, no backend I/O. */
export function health(): { alive: boolean; version: string } {
  return { alive: true, version: VERSION };
}

/** Readiness summary (contract §8). */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly reason: "ready" | "backend_unreachable" | "required_key_missing";
  readonly generation: number;
  readonly keysTotal: number;
  readonly keysPresent: number;
  readonly keysRequiredMissing: number;
  readonly keysOptionalMissing: number;
}

const READINESS_TTL_MS = 2000;

/** Probes every catalog key read-only; results are cached 2 s per generation. */
export class ReadinessProbe {
  #cache: { at: number; gen: number; report: ReadinessReport } | undefined;
  #inflight: Promise<ReadinessReport> | undefined;

  constructor(private readonly deps: BrokerDeps) {}

  /** The current report (cached or fresh). */
  check(): Promise<ReadinessReport> {
    const gen = this.deps.state.current();
    const now = this.deps.now().getTime();
    const c = this.#cache;
    if (c && c.gen === gen.id && now - c.at < READINESS_TTL_MS) return Promise.resolve(c.report);
    this.#inflight ??= this.#probe().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  async #probe(): Promise<ReadinessReport> {
    const gen = this.deps.state.current();
    let present = 0, required = 0, optional = 0, unreachable = false;
    for (const key of gen.catalog.keys.values()) {
      const backend = this.deps.backends.get(key.backend);
      let exists: boolean;
      try {
        if (!backend) throw new Error("no backend");
        exists = await backend.exists(key);
      } catch {
        unreachable = true;
        continue;
      }
      if (exists) present++;
      else if (key.missing === "error") required++;
      else optional++;
    }
    const reason = unreachable
      ? "backend_unreachable"
      : required > 0
      ? "required_key_missing"
      : "ready";
    const report: ReadinessReport = {
      ready: reason === "ready",
      reason,
      generation: gen.id,
      keysTotal: gen.catalog.keys.size,
      keysPresent: present,
      keysRequiredMissing: required,
      keysOptionalMissing: optional,
    };
    this.#cache = { at: this.deps.now().getTime(), gen: gen.id, report };
    return report;
  }
}

/** Live Explain over the serving generation. */
export function explainLive(
  deps: BrokerDeps,
  call: BrokerCall,
  subject: string,
  op: string,
  key: string,
): ExplainJson {
  const caller = authorizeAdmin(deps, call, "explain");
  if (subject === "" || key === "") {
    throw new BasilError("INVALID_ARGUMENT", "subject and key are required", { op: "explain" });
  }
  if (!isOp(op)) throw new BasilError("INVALID_ARGUMENT", `unknown op "${op}"`, { op: "explain" });
  const { catalog, policy } = caller.gen;
  const actor = policy.subjects.has(subject) ? subject : undefined;
  return explainJson(subject, op, key, decide(catalog, policy, actor, op, key));
}

/**
 * Reload (or with `check`, validate) the catalog and policy from disk, on
 * behalf of an authorized caller (audited as actor `unix_uid`). An agent
 * without a reloader answers the `no_reload_inputs` rejection.
 */
export async function reload(
  deps: BrokerDeps,
  call: BrokerCall,
  check: boolean,
): Promise<ReloadResult> {
  const caller = authorizeAdmin(deps, call, "reload");
  if (!deps.reloader) {
    const gen = caller.gen.id;
    return {
      applied: false,
      checked: false,
      previousGeneration: gen,
      newGeneration: gen,
      keyCount: 0,
      grantCount: 0,
      rejection: { reason: "no_reload_inputs", message: "this agent cannot reload" },
    };
  }
  const id = caller.peer === undefined ? "unknown" : String(caller.peer.uid);
  return await deps.reloader.reload({ kind: "unix_uid", id }, check);
}
