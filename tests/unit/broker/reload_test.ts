/**
 * The reload engine over an in-memory file system: an applied reload swaps
 * one new generation and audits it; every rejection reason leaves the
 * serving generation as it was and is audited too; reloads are serialized;
 * an unwritable audit line applies nothing; BundleChanged follows a change
 * of the bundle publishers.
 */

import assert from "node:assert/strict";
import { EventBus } from "../../../lib/broker/events.ts";
import type { BrokerEvent } from "../../../lib/broker/events.ts";
import { Reloader } from "../../../lib/broker/reload.ts";
import type { ReloadEffects, ReloadFiles } from "../../../lib/broker/reload.ts";
import { GenerationHolder } from "../../../lib/broker/state.ts";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import type { Catalog } from "../../../lib/catalog/schema.ts";
import { nullLogger } from "../../../lib/core/log.ts";
import { parseUnixNames } from "../../../lib/core/unix_names.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import { decide } from "../../../lib/policy/pdp.ts";
import { MemorySink, rejectsWith } from "./helpers.ts";

const CAT = "/etc/basil/catalog.json";
const POL = "/etc/basil/policy.json";

function catalog(labels: string[] = []): string {
  return JSON.stringify({
    schemaVersion: 1,
    backends: { db: { kind: "keystore", addr: "/tmp/db", engines: ["kv2", "transit"] } },
    keys: {
      "app.a": {
        class: "value",
        backend: "db",
        path: "a",
        writable: true,
        description: "a",
        labels,
      },
      "app.b": { class: "value", backend: "db", path: "b", writable: true, description: "b" },
    },
  });
}

function policy(target: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid: 1000 }] } },
    rules: [{ id: `r-${target}`, subjects: ["app"], action: ["op:get"], target: [target] }],
  });
}

/** A file system of strings; each write bumps the file's fingerprint. */
class MemFiles implements ReloadFiles {
  readonly files = new Map<string, { text: string; version: number }>();
  /** Runs once, inside the next read of this path. */
  duringRead = new Map<string, () => void>();

  write(path: string, text: string): void {
    this.files.set(path, { text, version: (this.files.get(path)?.version ?? 0) + 1 });
  }

  fingerprint(path: string): string {
    const f = this.files.get(path);
    if (!f) throw new Deno.errors.NotFound("gone");
    return String(f.version);
  }

  read(path: string): string {
    const hook = this.duringRead.get(path);
    this.duringRead.delete(path);
    const f = this.files.get(path);
    if (!f) throw new Deno.errors.NotFound("gone");
    hook?.();
    return f.text;
  }
}

function setup(effects?: ReloadEffects) {
  const files = new MemFiles();
  files.write(CAT, catalog());
  files.write(POL, policy("app.a"));
  const state = new GenerationHolder({
    id: 1,
    catalog: loadCatalog(files.read(CAT), CAT).catalog,
    policy: loadPolicy(files.read(POL), POL),
  });
  const sink = new MemorySink();
  const events = new EventBus();
  const reloader = new Reloader({
    state,
    inputs: { catalog: CAT, policy: POL },
    audit: sink,
    events,
    logger: nullLogger,
    now: () => new Date(0),
    names: () => parseUnixNames("", ""),
    files,
    ...(effects ? { effects } : {}),
  });
  return { files, state, sink, events, reloader };
}

const SIGHUP = { kind: "signal", id: "SIGHUP" } as const;

Deno.test("an applied reload swaps generation + 1 and audits it", async () => {
  const { files, state, sink, reloader } = setup();
  const g1 = state.current();
  files.write(POL, policy("app.b"));
  const r = await reloader.reload({ kind: "unix_uid", id: "1000" });
  assert.deepEqual(
    { ...r },
    {
      applied: true,
      checked: false,
      previousGeneration: 1,
      newGeneration: 2,
      keyCount: 2,
      grantCount: 1,
    },
  );
  const g2 = state.current();
  assert.equal(g2.id, 2);
  assert.equal(decide(g2.catalog, g2.policy, "app", "get", "app.b").allow, true);
  assert.equal(decide(g2.catalog, g2.policy, "app", "get", "app.a").allow, false);
  // The old snapshot is untouched: a request pinned on it still sees it.
  assert.equal(decide(g1.catalog, g1.policy, "app", "get", "app.a").allow, true);
  assert.deepEqual(sink.records, [{
    event: { kind: "basil.audit.reload", version: 1 },
    occurred_at: "1970-01-01T00:00:00Z",
    actor: { kind: "unix_uid", id: "1000" },
    previous_generation: 1,
    generation: 2,
    outcome: "applied",
    reason: "ok",
  }]);
});

Deno.test("check validates, audits `checked` and swaps nothing", async () => {
  const { files, state, sink, reloader } = setup();
  files.write(POL, policy("app.b"));
  const r = await reloader.reload(SIGHUP, true);
  assert.equal(r.checked, true);
  assert.equal(r.applied, false);
  assert.equal(state.current().id, 1);
  assert.equal(sink.records[0]!.outcome, "checked");
});

Deno.test("every rejection reason changes nothing and is audited", async () => {
  const cases: [string, (f: MemFiles) => void][] = [
    ["validation_failed", (f) => f.write(POL, policy("app.*.**x"))],
    ["validation_failed", (f) => f.write(CAT, "{")],
    ["routing_shape_changed", (f) => f.write(CAT, catalog().replace('"path":"b"', '"path":"c"'))],
    ["catalog_read_failed", (f) => f.files.delete(CAT)],
    ["policy_read_failed", (f) => f.files.delete(POL)],
    [
      "inputs_changed_during_read",
      (f) => f.duringRead.set(CAT, () => f.write(POL, policy("app.b"))),
    ],
    ["inputs_changed_during_read", (f) => f.duringRead.set(POL, () => f.write(POL, "{"))],
  ];
  for (const [reason, edit] of cases) {
    const { files, state, sink, reloader } = setup();
    const before = state.current();
    edit(files);
    const r = await reloader.reload(SIGHUP);
    assert.equal(r.applied, false, reason);
    assert.equal(r.rejection?.reason, reason, r.rejection?.message ?? "");
    assert.equal(r.newGeneration, 1);
    assert.equal(state.current(), before, `${reason}: the same generation object serves`);
    assert.deepEqual(
      sink.records.map((x) => [x.outcome, x.reason, x.generation]),
      [["rejected", reason, 1]],
    );
  }
});

Deno.test("a rejection message names the file and field, or the shape change", async () => {
  const { files, reloader } = setup();
  files.write(CAT, catalog().replace('"path":"b"', '"path":"c"'));
  const r = await reloader.reload(SIGHUP);
  assert.match(r.rejection!.message, /key "app\.b": path changed/);
  files.write(CAT, catalog());
  files.write(POL, policy("app.*.**x"));
  const v = await reloader.reload(SIGHUP);
  assert.match(v.rejection!.message, /policy\.json: rules\[0\]\.target\[0\]/);
});

Deno.test("no inputs: no_reload_inputs", async () => {
  const { state, sink, events } = setup();
  const r = await new Reloader({
    state,
    inputs: undefined,
    audit: sink,
    events,
    logger: nullLogger,
    now: () => new Date(0),
    names: () => parseUnixNames("", ""),
  }).reload(SIGHUP);
  assert.equal(r.rejection?.reason, "no_reload_inputs");
});

Deno.test("reloads run one at a time, each on the generation the last one left", async () => {
  const { files, state, reloader } = setup();
  files.write(POL, policy("app.b"));
  const seen: number[] = [];
  const all = await Promise.all(
    [1, 2, 3].map(() => reloader.reload(SIGHUP).then((r) => (seen.push(r.newGeneration), r))),
  );
  assert.deepEqual(all.map((r) => [r.previousGeneration, r.newGeneration]), [[1, 2], [2, 3], [
    3,
    4,
  ]]);
  assert.deepEqual(seen, [2, 3, 4]);
  assert.equal(state.current().id, 4);
});

Deno.test("an audit line that cannot be written applies nothing", async () => {
  const { files, state, sink, reloader } = setup();
  files.write(POL, policy("app.b"));
  sink.failing = true;
  await rejectsWith(reloader.reload(SIGHUP), "INTERNAL");
  assert.equal(state.current().id, 1);
  sink.failing = false;
  assert.equal((await reloader.reload(SIGHUP)).newGeneration, 2, "the queue survives a failure");
});

Deno.test("BundleChanged for old ∪ new trust domains when the publishers change", async () => {
  const publishers = (c: Catalog) =>
    new Map(
      [...c.keys.values()].flatMap((k) => {
        const td = k.labelMap.get("td");
        return td === undefined ? [] : [[k.name, td] as [string, string]];
      }),
    );
  let refreshed = 0;
  const fx: ReloadEffects = {
    bundlePublishers: publishers,
    refreshRevocations: () => {
      refreshed++;
      return Promise.resolve();
    },
  };
  const { files, events, reloader } = setup(fx);
  const sub = events.subscribe(() => true);
  const got: BrokerEvent[] = [];
  const drain = (async () => {
    for await (const e of sub) got.push(e);
  })();
  files.write(CAT, catalog(["td=one.org"]));
  await reloader.reload(SIGHUP); // {} → {a: one.org}
  await reloader.reload(SIGHUP); // unchanged: nothing
  files.write(CAT, catalog(["td=two.org"]));
  const last = await reloader.reload(SIGHUP); // one.org → two.org
  assert.equal(last.newGeneration, 4);
  sub.close();
  await drain;
  assert.deepEqual(
    got.map((e) => e.kind === "bundle_changed" ? e.trustDomain : e.kind),
    ["one.org", "one.org", "two.org"],
  );
  assert.equal(refreshed, 3);
});

Deno.test("a failed revocation refresh still applies, audited as such", async () => {
  const fx: ReloadEffects = {
    bundlePublishers: () => new Map(),
    refreshRevocations: () => Promise.reject(new Error("backend down")),
  };
  const { state, sink, reloader } = setup(fx);
  const r = await reloader.reload(SIGHUP);
  assert.equal(r.applied, true);
  assert.ok(r.revocationRefreshFailed);
  assert.equal(state.current().id, 2);
  assert.equal(sink.records[0]!.outcome, "revocation_refresh_failed");
});
