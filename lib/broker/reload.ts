/**
 * Hot reload (contract §8): SIGHUP and the Reload RPC re-read the catalog and
 * policy from the paths the agent started with (never anything from the
 * wire) and swap them in as the next generation, all or nothing.
 *
 * One reload runs at a time; a second waits for the first. Each one:
 * 1. reads both files, fingerprinting each (device, inode, size, mtime,
 *    ctime) before and after: a file replaced or written while it was read
 *    is `inputs_changed_during_read`, so a half-written file is never used;
 * 2. runs the full loaders (`validation_failed`) and the routing-shape guard
 *    (`routing_shape_changed`, see reload_shape.ts); no backend I/O, no
 *    capability probe, no key generation;
 * 3. with `check`, stops there (`checked`); otherwise refreshes the JWT
 *    revocation list from the new catalog's store (a union: revocations are
 *    only ever added), writes the reload's audit line, and only once that
 *    line is written swaps the generation (id + 1) and, when the SPIFFE
 *    bundle publishers changed, announces BundleChanged for every trust
 *    domain of the old and the new set.
 *
 * A rejected reload changes nothing and is audited like an applied one.
 * Requests pin the generation current at their entry, so one in flight
 * finishes on the generation it started with.
 * @module
 */

import type { AuditSink } from "../audit/sink.ts";
import { loadCatalog } from "../catalog/load.ts";
import type { Catalog } from "../catalog/schema.ts";
import { BasilError, InputError } from "../core/errors.ts";
import { describeFsError } from "../core/fs.ts";
import type { Logger } from "../core/log.ts";
import type { UnixNames } from "../core/unix_names.ts";
import { loadPolicy } from "../policy/load.ts";
import type { EventBus } from "./events.ts";
import { reloadRecord } from "./reload_record.ts";
import type { ReloadActor, ReloadOutcome } from "./reload_record.ts";
import { routingShapeChanges } from "./reload_shape.ts";
import type { Generation, GenerationHolder } from "./state.ts";

/** Why a reload was rejected (contract §8). */
export type ReloadRejectionReason =
  | "validation_failed"
  | "routing_shape_changed"
  | "catalog_read_failed"
  | "policy_read_failed"
  | "inputs_changed_during_read"
  | "no_reload_inputs";

/** What a reload did. */
export interface ReloadResult {
  readonly applied: boolean;
  /** A `check` reload that would have applied. */
  readonly checked: boolean;
  readonly previousGeneration: number;
  /** The serving generation afterwards (the previous one unless applied). */
  readonly newGeneration: number;
  /** Keys and grants of the loaded files (0 when they did not load). */
  readonly keyCount: number;
  readonly grantCount: number;
  readonly rejection?: { readonly reason: ReloadRejectionReason; readonly message: string };
  /** Applied, but the revocation store could not be re-read: why. */
  readonly revocationRefreshFailed?: string;
}

/** The files a reload re-reads. */
export interface ReloadInputs {
  readonly catalog: string;
  readonly policy: string;
}

/** How the reloader sees the file system (the real one unless a test injects another). */
export interface ReloadFiles {
  /** A fingerprint that changes whenever the file is replaced or written. */
  fingerprint(path: string): string;
  read(path: string): string;
}

/** The real file system. */
export const DENO_FILES: ReloadFiles = {
  fingerprint(path) {
    const s = Deno.statSync(path);
    return [s.dev, s.ino, s.size, s.mtime?.getTime(), s.ctime?.getTime()].join(":");
  },
  read: (path) => Deno.readTextFileSync(path),
};

/** Effects that belong to layers above the broker (SPIFFE), supplied by the daemon. */
export interface ReloadEffects {
  /** The SVID issuers publishing bundles: issuer identity → trust domain. */
  bundlePublishers(catalog: Catalog): ReadonlyMap<string, string>;
  /** Re-reads the JWT revocation store of `catalog` into the live list; throws on failure. */
  refreshRevocations(catalog: Catalog): Promise<void>;
}

/** What the {@linkcode Reloader} works with. */
export interface ReloaderOptions {
  readonly state: GenerationHolder;
  /** Undefined when the agent has no files to re-read (`no_reload_inputs`). */
  readonly inputs: ReloadInputs | undefined;
  readonly audit: AuditSink;
  readonly events: EventBus;
  readonly logger: Logger;
  readonly now: () => Date;
  /** The host's user and group names, read afresh for each reload (`unixSubjects`). */
  readonly names: () => UnixNames;
  readonly effects?: ReloadEffects;
  readonly files?: ReloadFiles;
}

class Rejected extends Error {
  constructor(readonly reason: ReloadRejectionReason, message: string) {
    super(message);
  }
}

/** Serializes and runs reloads. */
export class Reloader {
  #queue: Promise<unknown> = Promise.resolve();
  readonly #files: ReloadFiles;

  constructor(private readonly o: ReloaderOptions) {
    this.#files = o.files ?? DENO_FILES;
  }

  /**
   * Reloads (or, with `check`, only validates) after any reload already
   * under way. Resolves with the result, rejections included; throws only
   * INTERNAL when the audit line of an otherwise good reload could not be
   * written (nothing is applied then).
   */
  reload(actor: ReloadActor, check = false): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#run(actor, check));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #run(actor: ReloadActor, check: boolean): Promise<ReloadResult> {
    const prev = this.o.state.current();
    let loaded: { catalog: Catalog; policy: Generation["policy"] };
    try {
      loaded = this.#load(prev);
    } catch (e) {
      if (!(e instanceof Rejected)) throw e;
      return this.#reject(actor, prev, e);
    }
    const counts = { keyCount: loaded.catalog.keys.size, grantCount: loaded.policy.grantCount };
    if (check) {
      this.#audit(actor, prev.id, prev.id, "checked", "ok");
      this.o.logger.log("info", "reload check passed", { actor: actorName(actor), ...counts });
      return {
        applied: false,
        checked: true,
        previousGeneration: prev.id,
        newGeneration: prev.id,
        ...counts,
      };
    }
    let refreshFailed: string | undefined;
    try {
      await this.o.effects?.refreshRevocations(loaded.catalog);
    } catch (e) {
      refreshFailed = e instanceof InputError ? e.message : describeFsError(e);
    }
    const next: Generation = { id: prev.id + 1, ...loaded };
    const outcome = refreshFailed === undefined ? "applied" : "revocation_refresh_failed";
    if (!this.#audit(actor, prev.id, next.id, outcome, "ok")) {
      throw new BasilError("INTERNAL", undefined, {
        op: "reload",
        detail: "reload not applied: its audit record could not be written",
      });
    }
    this.o.state.swap(next);
    this.#announceBundles(prev.catalog, next.catalog);
    this.o.logger.log(refreshFailed === undefined ? "info" : "warn", "reload applied", {
      actor: actorName(actor),
      generation: next.id,
      ...counts,
      ...(refreshFailed === undefined ? {} : { revocation_refresh_failed: refreshFailed }),
    });
    return {
      applied: true,
      checked: false,
      previousGeneration: prev.id,
      newGeneration: next.id,
      ...counts,
      ...(refreshFailed === undefined ? {} : { revocationRefreshFailed: refreshFailed }),
    };
  }

  /** Reads and validates both files; throws {@linkcode Rejected}. */
  #load(prev: Generation): { catalog: Catalog; policy: Generation["policy"] } {
    const inputs = this.o.inputs;
    if (!inputs) {
      throw new Rejected(
        "no_reload_inputs",
        "the agent has no catalog and policy files to re-read",
      );
    }
    const f = this.#files;
    const guard = (reason: ReloadRejectionReason, what: string, path: string, fn: () => string) => {
      try {
        return fn();
      } catch (e) {
        throw new Rejected(reason, `${what} ${path}: cannot read: ${describeFsError(e)}`);
      }
    };
    const cat = (fn: () => string) => guard("catalog_read_failed", "catalog", inputs.catalog, fn);
    const pol = (fn: () => string) => guard("policy_read_failed", "policy", inputs.policy, fn);
    const before = [
      cat(() => f.fingerprint(inputs.catalog)),
      pol(() => f.fingerprint(inputs.policy)),
    ];
    const catalogText = cat(() => f.read(inputs.catalog));
    const policyText = pol(() => f.read(inputs.policy));
    const after = [
      cat(() => f.fingerprint(inputs.catalog)),
      pol(() => f.fingerprint(inputs.policy)),
    ];
    const changed = [inputs.catalog, inputs.policy].filter((_, i) => before[i] !== after[i]);
    if (changed.length > 0) {
      throw new Rejected(
        "inputs_changed_during_read",
        `${changed.join(" and ")} changed while being read; try again once written`,
      );
    }
    let catalog: Catalog, policy: Generation["policy"];
    try {
      const c = loadCatalog(catalogText, inputs.catalog);
      for (const w of c.warnings) this.o.logger.log("warn", "catalog warning", { detail: w });
      catalog = c.catalog;
      policy = loadPolicy(policyText, inputs.policy, { names: this.o.names() });
    } catch (e) {
      if (e instanceof InputError) throw new Rejected("validation_failed", e.message);
      throw e;
    }
    const shape = routingShapeChanges(prev.catalog, catalog);
    if (shape.length > 0) {
      throw new Rejected(
        "routing_shape_changed",
        `the catalog's routing shape changed (restart the agent to apply): ${shape.join("; ")}`,
      );
    }
    return { catalog, policy };
  }

  #reject(actor: ReloadActor, prev: Generation, r: Rejected): ReloadResult {
    this.#audit(actor, prev.id, prev.id, "rejected", r.reason);
    this.o.logger.log("warn", "reload rejected", {
      actor: actorName(actor),
      reason: r.reason,
      detail: r.message,
      generation: prev.id,
    });
    return {
      applied: false,
      checked: false,
      previousGeneration: prev.id,
      newGeneration: prev.id,
      keyCount: 0,
      grantCount: 0,
      rejection: { reason: r.reason, message: r.message },
    };
  }

  #audit(
    actor: ReloadActor,
    previous: number,
    generation: number,
    outcome: ReloadOutcome,
    reason: string,
  ): boolean {
    const now = this.o.now();
    return this.o.audit.write(reloadRecord(actor, previous, generation, outcome, reason, now));
  }

  /** BundleChanged for every trust domain of both sets, when the publishers changed. */
  #announceBundles(prev: Catalog, next: Catalog): void {
    const fx = this.o.effects;
    if (!fx) return;
    const a = fx.bundlePublishers(prev), b = fx.bundlePublishers(next);
    const same = a.size === b.size && [...a].every(([id, td]) => b.get(id) === td);
    if (same) return;
    const at = this.o.now();
    for (const trustDomain of [...new Set([...a.values(), ...b.values()])].sort()) {
      this.o.events.publish({ kind: "bundle_changed", at, trustDomain });
    }
  }
}

function actorName(a: ReloadActor): string {
  return a.kind === "signal" ? a.id : `uid:${a.id}`;
}
