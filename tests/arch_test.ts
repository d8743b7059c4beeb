/**
 * Architecture test: imports inside lib/ only point down the layers, and no
 * module imports itself back through a cycle. Layers, lowest first:
 *
 *   0 core, wire, ffi   1 config, catalog, metrics, client   2 crypto, policy, logging   3 seal, cose
 *   4 backends, audit   5 broker   6 spiffe, nats   7 service   8 transport
 *   9 sandbox   10 daemon.ts   10 nats_bridge   11 cli
 *
 * A module may import from its own folder or from a lower layer.
 */

import assert from "node:assert/strict";

const LAYERS: Record<string, number> = {
  core: 0,
  wire: 0,
  ffi: 0,
  config: 1,
  catalog: 1,
  metrics: 1,
  // The gRPC client of the agent's socket (CLI, NATS bridge): wire + core only.
  client: 1,
  crypto: 2,
  policy: 2,
  logging: 2,
  seal: 3,
  cose: 3,
  backends: 4,
  audit: 4,
  broker: 5,
  spiffe: 6,
  nats: 6,
  service: 7,
  transport: 8,
  sandbox: 9,
  "daemon.ts": 10,
  // The NATS bridge is a separate process the CLI runs: wire + core only.
  nats_bridge: 10,
  cli: 11,
};

const root = new URL("../", import.meta.url).pathname;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) walk(p, out);
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function area(abs: string): string | undefined {
  const rel = abs.slice(root.length);
  if (rel.startsWith("ffi/")) return "ffi";
  if (!rel.startsWith("lib/")) return undefined;
  const first = rel.slice(4).split("/")[0]!;
  return first;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']/g;

function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(file);
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    out.push(new URL(m[1]!, `file://${file}`).pathname);
  }
  return out;
}

const files = [...walk(`${root}lib`), ...walk(`${root}ffi`)];
const graph = new Map(files.map((f) => [f, importsOf(f)]));

function findViolations(g: ReadonlyMap<string, readonly string[]>): string[] {
  const violations: string[] = [];
  for (const [file, deps] of g) {
    const from = area(file)!;
    const fromRank = LAYERS[from];
    if (fromRank === undefined) {
      violations.push(`no layer declared for lib/${from}`);
      continue;
    }
    for (const dep of deps) {
      const to = area(dep);
      const rel = (x: string) => x.slice(root.length);
      if (to === undefined) {
        violations.push(`${rel(file)} imports outside lib/: ${rel(dep)}`);
        continue;
      }
      if (to === from) continue;
      const toRank = LAYERS[to];
      if (toRank === undefined || toRank >= fromRank) {
        violations.push(`${rel(file)} (${from}) imports ${rel(dep)} (${to})`);
      }
    }
  }
  return violations;
}

function findCycles(g: ReadonlyMap<string, readonly string[]>): string[] {
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "visiting") {
      cycles.push(
        [...stack.slice(stack.indexOf(f)), f].map((x) => x.slice(root.length)).join(" -> "),
      );
      return;
    }
    state.set(f, "visiting");
    for (const d of g.get(f) ?? []) if (g.has(d)) visit(d, [...stack, f]);
    state.set(f, "done");
  };
  for (const f of g.keys()) visit(f, []);
  return cycles;
}

Deno.test("lib/ imports only point down the layers", () => {
  assert.deepEqual(findViolations(graph), []);
});

Deno.test("lib/ has no import cycles", () => {
  assert.deepEqual(findCycles(graph), []);
});

Deno.test("the checker reports an upward import and a cycle", () => {
  const a = `${root}lib/service/a.ts`;
  const b = `${root}lib/daemon.ts`;
  const c = `${root}lib/core/c.ts`;
  const d = `${root}lib/core/d.ts`;
  const bad = new Map([[a, [b]], [b, []], [c, [d]], [d, [c]]]);
  assert.equal(findViolations(bad).length, 1);
  assert.equal(findCycles(bad).length, 1);
});
