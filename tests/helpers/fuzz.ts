/**
 * Shared pieces of the fuzz suite (tests/fuzz/): the budget, the seed, and
 * mutators of valid samples, all on fast-check.
 *
 * Budget: each property runs its short default (CI), or `BASIL_FUZZ_RUNS`
 * times (`deno task fuzz`; socket targets scale it down, see
 * {@linkcode fuzzRuns}). Seed: random per process unless `BASIL_FUZZ_SEED`
 * is set; a failure names `BASIL_FUZZ_SEED` and `BASIL_FUZZ_PATH`, and
 * setting both replays the shrunk counterexample.
 */

import fc from "fast-check";

const env = (name: string): string | undefined => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: defaults
  }
};

/** The seed of this process's properties (`BASIL_FUZZ_SEED`, or random). */
export const FUZZ_SEED: number = env("BASIL_FUZZ_SEED") !== undefined
  ? Number(env("BASIL_FUZZ_SEED"))
  : (crypto.getRandomValues(new Uint32Array(1))[0]! & 0x7fffffff);

const LONG = env("BASIL_FUZZ_RUNS") === undefined ? undefined : Number(env("BASIL_FUZZ_RUNS"));

/**
 * Runs for one property: `short` by default, `BASIL_FUZZ_RUNS × scale`
 * (at least `short`) in the long run.
 */
export function fuzzRuns(short: number, scale = 1): number {
  return LONG === undefined ? short : Math.max(short, Math.ceil(LONG * scale));
}

/** True under `deno task fuzz` (a long budget was asked for). */
export const LONG_RUN: boolean = LONG !== undefined;

/**
 * `fc.assert` with the suite's seed and budget. A failure is rethrown with
 * the replay line (`BASIL_FUZZ_SEED=… BASIL_FUZZ_PATH=…`) first.
 */
export async function fuzz<Ts>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  runs: number,
): Promise<void> {
  const path = env("BASIL_FUZZ_PATH");
  const params: fc.Parameters<Ts> = {
    numRuns: runs,
    seed: FUZZ_SEED,
    ...(path !== undefined && env("BASIL_FUZZ_SEED") !== undefined ? { path } : {}),
  };
  try {
    await fc.assert(property as fc.IAsyncProperty<Ts>, params);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const p = /path: "([^"]*)"/.exec(msg)?.[1];
    const replay = `BASIL_FUZZ_SEED=${FUZZ_SEED}${p ? ` BASIL_FUZZ_PATH=${p}` : ""}`;
    throw new Error(`fuzz ${name} failed; replay with ${replay}\n${msg}`, { cause: e });
  }
}

// ---- byte mutation ----

/** One edit of a byte string; positions are taken modulo the length. */
type Edit =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; byte: number }
  | { op: "delete"; at: number; len: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "truncate"; at: number }
  | { op: "duplicate"; at: number; len: number }
  | { op: "splice"; at: number; other: number; from: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("flip"), at: fc.nat(), bit: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("set"),
      at: fc.nat(),
      byte: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x2e),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("delete"),
      at: fc.nat(),
      len: fc.integer({ min: 1, max: 16 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("insert"),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("truncate"), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("duplicate"),
      at: fc.nat(),
      len: fc.integer({ min: 1, max: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("splice"),
      at: fc.nat(),
      other: fc.nat(),
      from: fc.nat(),
    }),
  },
) as fc.Arbitrary<Edit>;

function applyEdit(b: Uint8Array, e: Edit, samples: readonly Uint8Array[]): Uint8Array {
  const n = b.length;
  const at = n === 0 ? 0 : e.at % (n + 1);
  switch (e.op) {
    case "flip": {
      if (n === 0) return b;
      const out = b.slice();
      out[e.at % n]! ^= 1 << e.bit;
      return out;
    }
    case "set": {
      if (n === 0) return b;
      const out = b.slice();
      out[e.at % n] = e.byte;
      return out;
    }
    case "delete":
      return concatBytes(b.subarray(0, at), b.subarray(Math.min(n, at + e.len)));
    case "insert":
      return concatBytes(b.subarray(0, at), e.bytes, b.subarray(at));
    case "truncate":
      return b.slice(0, at);
    case "duplicate":
      return concatBytes(b.subarray(0, at), b.subarray(at, at + e.len), b.subarray(at));
    case "splice": {
      const o = samples[e.other % samples.length]!;
      return concatBytes(b.subarray(0, at), o.subarray(o.length ? e.from % o.length : 0));
    }
  }
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A valid sample with 1-4 edits: bit flips, byte sets, deletions,
 * insertions, truncation, duplication, and splices with another sample.
 */
export function mutatedBytes(samples: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  if (samples.length === 0) throw new TypeError("mutatedBytes needs at least one sample");
  return fc.tuple(
    fc.nat(samples.length - 1),
    fc.array(edit, { minLength: 1, maxLength: 4 }),
  ).map(([i, edits]) =>
    edits.reduce<Uint8Array>((b, e) => applyEdit(b, e, samples), samples[i]!.slice())
  );
}

/**
 * Bytes drawn from `base` (say, a valid message built from a schema) with
 * 1-4 of the same edits; a splice takes its tail from the bytes themselves.
 */
export function withEdits(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([b, edits]) => edits.reduce<Uint8Array>((x, e) => applyEdit(x, e, [b]), b.slice()));
}

/** Random bytes or a mutated sample (about one in four random). */
export function fuzzBytes(
  samples: readonly Uint8Array[],
  maxLength = 256,
): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength }) },
    { weight: 3, arbitrary: mutatedBytes(samples) },
  );
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Random text or a mutated sample (byte-level edits, decoded leniently). */
export function fuzzText(samples: readonly string[], maxLength = 256): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.string({ maxLength, unit: "binary" }) },
    {
      weight: 3,
      arbitrary: mutatedBytes(samples.map((s) => enc.encode(s))).map((b) => dec.decode(b)),
    },
  );
}

// ---- structured (JSON-shaped) mutation ----

/** Values that trip shape checks: wrong types, edges, prototype keys. */
const ODD: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    2 ** 53,
    -(2 ** 31),
    1e308,
    "",
    " ",
    "*",
    "..",
    "\u0000",
    "a".repeat(300),
    [],
    {},
    [null],
    { "__proto__": { polluted: true } },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

type Path = readonly (string | number)[];

function pathsOf(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...at, i], out));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, k], out);
  }
  return out;
}

type FieldEdit =
  | { op: "drop" }
  | { op: "replace"; value: unknown }
  | { op: "add"; key: string; value: unknown }
  | { op: "wrap" };

const fieldEdit: fc.Arbitrary<FieldEdit> = fc.oneof(
  fc.constant({ op: "drop" } as const),
  { weight: 3, arbitrary: fc.record({ op: fc.constant("replace" as const), value: ODD }) },
  fc.record({
    op: fc.constant("add" as const),
    key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "constructor")),
    value: ODD,
  }),
  fc.constant({ op: "wrap" } as const),
);

function editAt(root: unknown, path: Path, e: FieldEdit): unknown {
  if (path.length === 0) {
    switch (e.op) {
      case "drop":
        return undefined;
      case "replace":
        return e.value;
      case "wrap":
        return [root];
      case "add":
        if (root !== null && typeof root === "object" && !Array.isArray(root)) {
          const out = { ...root } as Record<string, unknown>;
          Object.defineProperty(out, e.key, { value: e.value, enumerable: true, writable: true });
          return out;
        }
        return Array.isArray(root) ? [...root, e.value] : e.value;
    }
  }
  const [k, ...rest] = path;
  if (Array.isArray(root)) {
    const out = [...root];
    const v = editAt(out[k as number], rest, e);
    if (v === undefined) out.splice(k as number, 1);
    else out[k as number] = v;
    return out;
  }
  const out = { ...(root as Record<string, unknown>) };
  const v = editAt(out[k as string], rest, e);
  if (v === undefined) delete out[k as string];
  else Object.defineProperty(out, k as string, { value: v, enumerable: true, writable: true });
  return out;
}

/** 1-3 field-level edits, applied to any JSON value by {@linkcode applyFieldEdits}. */
export const fieldEdits: fc.Arbitrary<readonly (readonly [number, unknown])[]> = fc.array(
  fc.tuple(fc.nat(), fieldEdit),
  { minLength: 1, maxLength: 3 },
);

/**
 * Applies edits drawn from {@linkcode fieldEdits}: a field dropped, its
 * value replaced by an odd one (wrong type, edge number, long string,
 * `__proto__` object), a field added, or a value wrapped in an array. The
 * path of each edit is its number modulo the value's paths.
 */
export function applyFieldEdits(
  sample: unknown,
  edits: readonly (readonly [number, unknown])[],
): unknown {
  let v = structuredClone(sample);
  for (const [i, e] of edits) {
    const all = pathsOf(v);
    v = editAt(v, all[i % all.length]!, e as FieldEdit) ?? {};
  }
  return v;
}

/** A JSON-shaped sample with 1-3 field-level edits (see {@linkcode applyFieldEdits}). */
export function mutatedJson(sample: unknown): fc.Arbitrary<unknown> {
  return fieldEdits.map((edits) => applyFieldEdits(sample, edits));
}

// ---- the property every parser must hold ----

/** An error class a parser may throw. */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

function stray(e: unknown, allowed: readonly ErrorClass[]): void {
  if (allowed.some((c) => e instanceof c)) return;
  const what = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
  throw new Error(`stray exception ${what}`, { cause: e });
}

/**
 * Runs `fn`: returns its value, or `undefined` when it threw one of
 * `allowed` (the module's own typed errors). A stray `TypeError`,
 * `RangeError` or anything else fails the property, naming class and message.
 */
export function onlyTyped<T>(fn: () => T, allowed: readonly ErrorClass[]): T | undefined {
  try {
    return fn();
  } catch (e) {
    stray(e, allowed);
    return undefined;
  }
}

/** {@linkcode onlyTyped} for an async `fn` (a rejection counts as a throw). */
export async function onlyTypedAsync<T>(
  fn: () => Promise<T>,
  allowed: readonly ErrorClass[],
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    stray(e, allowed);
    return undefined;
  }
}
