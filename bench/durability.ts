// deno-lint-ignore-file no-console
/**
 * `deno task bench --suite durability` (issue 16 item 1): what each
 * durability setting of docs/durability.md costs, as ratios against floors
 * measured in the same run. Sequential calls, one in flight unless noted,
 * p50 per series, over `rounds` interleaved rounds (the order rotated by
 * one each round); the report gives the median (min–max) of the per-round
 * p50s. Unpinned (three agents and the echo run side by side).
 *
 * Over the socket (one kept-open grpc-js connection per server):
 * - `echo`: the echo on the broker's transport (bench/h2_echo.ts) with a
 *   SetSecret-sized request: the floor of a round trip;
 * - `set.always` / `set.batch` / `set.never`: SetSecret of 32 bytes on
 *   agents whose `audit-fsync` is always (the default), batch, never; the
 *   keystore commits with synchronous=FULL in all three;
 * - `set.always.c16`: the same at 16 in flight (group commit of the audit);
 * - `get.always` / `get.never`: GetSecret, whose allowed result also waits
 *   for its audit line.
 *
 * In process, on the same filesystem (the fixture's directory):
 * - `fdatasync`: append ~400 bytes to a file and fdatasync it: the floor of
 *   one durable write;
 * - `sqlite.full` / `sqlite.normal` / `sqlite.off`: one committed INSERT of
 *   a keystore-sized row into a WAL database with the keystore's schema
 *   and pragmas (lib/backends/keystore/schema.ts), under each
 *   `synchronous` level;
 * - `atomic.dirsync` / `atomic.nodirsync`: replacing a 2 KiB file with
 *   lib/core/fs.ts writeFileAtomic (temp, fsync, rename, fsync(dir)) and
 *   the same without the directory fsync.
 *
 * Prints a table and ratios; writes bench/results/<timestamp>-durability.json.
 * The disk matters: on tmpfs every sync is free.
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { create, toBinary } from "@bufbuild/protobuf";
import { writeFileAtomic } from "../lib/core/fs.ts";
import { applyPragmas, migrate } from "../lib/backends/keystore/schema.ts";
import { SecretService } from "../lib/wire/basil/broker/v1/broker_pb.ts";
import { startEcho } from "../tests/helpers/echo.ts";
import { Fixture, type RunningAgent } from "../tests/helpers/fixture.ts";
import { Channel } from "./channel.ts";
import type { Agg, BenchEnv } from "./common.ts";
import {
  agg,
  envConfig,
  fmt,
  fmtX,
  loadavg,
  roundsLine,
  standaloneEnv,
  writeResults,
} from "./common.ts";
import { bench, benchConc } from "./h.ts";
import type { Summary } from "./h.ts";

const AUDIT = ["always", "batch", "never"] as const;
type AuditFsync = typeof AUDIT[number];

const SERIES = [
  "echo",
  "set.always",
  "set.batch",
  "set.never",
  "set.always.c16",
  "get.always",
  "get.never",
  "fdatasync",
  "sqlite.full",
  "sqlite.normal",
  "sqlite.off",
  "atomic.dirsync",
  "atomic.nodirsync",
] as const;
type Series = typeof SERIES[number];

const VALUE_BYTES = 32;
const SET_PATH = "/basil.broker.v1.SecretService/SetSecret";
const GET_PATH = "/basil.broker.v1.SecretService/GetSecret";
const ECHO_PATH = "/bench.Echo/Unary";

function catalog(): unknown {
  return {
    schemaVersion: 1,
    backends: { db: { kind: "keystore", addr: "${DB}", engines: ["kv2"] } },
    keys: {
      "bench.value": {
        class: "value",
        backend: "db",
        path: "bench/value",
        writable: true,
        missing: "warn",
        description: "durability bench value",
      },
    },
  };
}

function policy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { bench: { anyOf: [{ kind: "unix", uid }] } },
    rules: [{ id: "b", subjects: ["bench"], action: ["op:get", "op:set"], target: ["bench.*"] }],
  };
}

const setRequest = toBinary(
  SecretService.method.setSecret.input,
  create(SecretService.method.setSecret.input, {
    secretId: "bench.value",
    value: new Uint8Array(VALUE_BYTES).fill(0x61),
  }),
);
const getRequest = toBinary(
  SecretService.method.getSecret.input,
  create(SecretService.method.getSecret.input, { secretId: "bench.value" }),
);

/** A keystore-shaped WAL database under one `synchronous` level. */
function sqliteSeries(dir: string, level: "FULL" | "NORMAL" | "OFF"): () => void {
  const path = `${dir}/bench-${level.toLowerCase()}.db`;
  const db = new DatabaseSync(path);
  applyPragmas(db);
  db.exec(`PRAGMA synchronous = ${level}`);
  migrate(db, path, new Uint8Array(32).fill(7));
  const insert = db.prepare(
    "INSERT INTO entries (kind, path, version, key_type, public, created_unix, sealed) " +
      "VALUES ('value', 'bench/value', ?, NULL, NULL, 0, ?)",
  );
  // A sealed 32-byte value: nonce + ciphertext + tag.
  const sealed = crypto.getRandomValues(new Uint8Array(12 + VALUE_BYTES + 16));
  let version = 0;
  return () => {
    insert.run(++version, sealed);
  };
}

/** Appends a record-sized line and fdatasyncs it. */
function fdatasyncSeries(dir: string): () => void {
  const f = Deno.openSync(`${dir}/bench-fdatasync.jsonl`, {
    append: true,
    create: true,
    mode: 0o600,
  });
  const line = new TextEncoder().encode(`${"x".repeat(400)}\n`);
  return () => {
    f.writeSync(line);
    f.syncDataSync();
  };
}

/** writeFileAtomic of 2 KiB, or the same steps without the directory fsync. */
function atomicSeries(dir: string, dirSync: boolean): () => void {
  const path = `${dir}/bench-atomic-${dirSync ? "dir" : "nodir"}.bin`;
  const data = crypto.getRandomValues(new Uint8Array(2048));
  if (dirSync) return () => writeFileAtomic(path, data);
  return () => {
    const tmp = `${path}.tmp`;
    const f = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      f.writeSync(data);
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, path);
  };
}

/** Runs the suite; see the module doc. */
export async function runDurability(options: BenchEnv): Promise<void> {
  const env: BenchEnv = { ...options, pinned: false };
  const started = new Date();
  const load0 = loadavg();
  env.log(`durability: ${roundsLine(env)}; load ${load0}`);
  const fixtures = new Map<AuditFsync, Fixture>();
  const agents: RunningAgent[] = [];
  const open: { close(): unknown }[] = [];
  const echo = await startEcho();
  try {
    const chans = new Map<AuditFsync, Channel>();
    for (const mode of AUDIT) {
      const f = await Fixture.create({
        catalog: catalog(),
        policy,
        configExtra: `audit-fsync = "${mode}"`,
      });
      fixtures.set(mode, f);
      agents.push(await f.start());
      const ch = await Channel.open(f.socket);
      open.push(ch);
      chans.set(mode, ch);
      await ch.raw(SET_PATH, setRequest); // the value exists for GetSecret
    }
    const toEcho = await Channel.open(echo.socket);
    open.push(toEcho);
    const dir = fixtures.get("always")!.dir;
    const echoReq = new Uint8Array(setRequest.length);
    const inproc: Record<string, () => void> = {
      fdatasync: fdatasyncSeries(dir),
      "sqlite.full": sqliteSeries(dir, "FULL"),
      "sqlite.normal": sqliteSeries(dir, "NORMAL"),
      "sqlite.off": sqliteSeries(dir, "OFF"),
      "atomic.dirsync": atomicSeries(dir, true),
      "atomic.nodirsync": atomicSeries(dir, false),
    };
    const run = (s: Series): Promise<Summary> => {
      const t = { warmMs: env.warmMs, runMs: env.runMs };
      switch (s) {
        case "echo":
          return bench(s, () => toEcho.raw(ECHO_PATH, echoReq), t);
        case "set.always":
        case "set.batch":
        case "set.never":
          return bench(s, () => chans.get(s.slice(4) as AuditFsync)!.raw(SET_PATH, setRequest), t);
        case "set.always.c16":
          return benchConc(s, () => chans.get("always")!.raw(SET_PATH, setRequest), 16, t);
        case "get.always":
        case "get.never":
          return bench(s, () => chans.get(s.slice(4) as AuditFsync)!.raw(GET_PATH, getRequest), t);
        default:
          return bench(s, inproc[s]!, t);
      }
    };
    const perRound: Record<string, Summary>[] = [];
    for (let r = 0; r < env.rounds; r++) {
      const order = [...SERIES.slice(r % SERIES.length), ...SERIES.slice(0, r % SERIES.length)];
      const got: Record<string, Summary> = {};
      for (const s of order) got[s] = await run(s);
      perRound.push(got);
      env.log(`  round ${r + 1}/${env.rounds} done`);
    }
    const p50 = (s: Series): Agg => agg(perRound.map((r) => r[s]!.p50_us));
    const ops = (s: Series): Agg => agg(perRound.map((r) => r[s]!.ops_s));
    const ratio = (a: Series, b: Series): Agg =>
      agg(perRound.map((r) => r[a]!.p50_us / r[b]!.p50_us));
    console.log(`\nDurability (p50 µs and calls/s, ${roundsLine(env)})`);
    console.log("| series | p50 µs | calls/s |");
    console.log("|---|---|---|");
    for (const s of SERIES) console.log(`| ${s} | ${fmt(p50(s))} | ${fmt(ops(s))} |`);
    const ratios: [string, Series, Series][] = [
      ["SetSecret, audit always vs echo", "set.always", "echo"],
      ["SetSecret, audit always vs never", "set.always", "set.never"],
      ["SetSecret, audit batch vs never", "set.batch", "set.never"],
      ["GetSecret, audit always vs never", "get.always", "get.never"],
      ["SetSecret audit never vs one fdatasync", "set.never", "fdatasync"],
      ["SQLite commit FULL vs NORMAL", "sqlite.full", "sqlite.normal"],
      ["SQLite commit NORMAL vs OFF", "sqlite.normal", "sqlite.off"],
      ["SQLite commit FULL vs one fdatasync", "sqlite.full", "fdatasync"],
      ["atomic write with vs without dir fsync", "atomic.dirsync", "atomic.nodirsync"],
    ];
    console.log("\n| ratio of p50 | value |");
    console.log("|---|---|");
    const ratioOut: Record<string, Agg> = {};
    for (const [label, a, b] of ratios) {
      ratioOut[`${a}/${b}`] = ratio(a, b);
      console.log(`| ${label} | ${fmtX(ratio(a, b))} |`);
    }
    const c16 = ops("set.always.c16");
    console.log(`\nSetSecret at 16 in flight, audit always: ${fmt(c16)} calls/s`);
    const file = writeResults(env, started, "-durability", {
      suite: "durability",
      config: envConfig(env),
      load: { before: load0, after: loadavg() },
      series: Object.fromEntries(SERIES.map((s) => [s, { p50_us: p50(s), ops_s: ops(s) }])),
      ratios: ratioOut,
      rounds: perRound,
    });
    console.log(`wrote ${file}`);
  } finally {
    for (const c of open) c.close();
    for (const a of agents) await a.stop();
    await echo.stop();
    for (const f of fixtures.values()) f.cleanup();
  }
}

if (import.meta.main) await runDurability(standaloneEnv(Deno.args));
