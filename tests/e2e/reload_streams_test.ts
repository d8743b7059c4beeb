/**
 * Open streams after a hot reload (lib/broker/recheck.ts), through a real
 * agent and grpc-js clients: an X.509-SVID stream, an X.509 bundle stream
 * and an Admin Watch stay open across a reload that keeps their grants (each
 * decided again, one `allow` record apiece), then end PERMISSION_DENIED
 * after a reload that takes the caller's subject away (one `deny` record
 * apiece). Without the re-decision a workload whose grant was withdrawn
 * would keep receiving fresh SVIDs for as long as its stream stayed open.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { WatchRequestSchema } from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import {
  X509BundlesRequestSchema,
  X509SVIDRequestSchema,
} from "../../lib/wire/spiffe/workload_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import type { RunningAgent } from "../helpers/fixture.ts";

const TD = "example.org";
const WORKLOAD = "/SpiffeWorkloadAPI";

function catalog(): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: { kind: "keystore", addr: "${DB}", engines: ["pki"], mintKeyTypes: ["ecdsa-p256"] },
    },
    keys: {
      "spiffe.x509_ca": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "db",
        engine: "pki",
        path: "pki/issue/spiffe",
        writable: true,
        missing: "generate",
        labels: ["svid_kind=x509", `trust_domain=${TD}`],
        description: "X.509-SVID CA",
      },
    },
  };
}

/** v1 and v2 grant the same (under other rule ids); v3 maps the caller to no subject. */
function policy(version: number, uid: number): unknown {
  const me = version === 3 ? 424242 : uid;
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid: me }] } },
    rules: [
      { id: `svids-v${version}`, subjects: ["app"], action: ["op:mint"], target: ["spiffe.*"] },
      {
        id: `watch-v${version}`,
        subjects: ["app"],
        action: ["op:watch"],
        target: ["broker.watch"],
      },
    ],
  };
}

interface OpenStream {
  messages: number;
  /** Resolves with the status name the stream ended with. */
  readonly ended: Promise<string>;
  close(): void;
}

function openStream(
  socket: string,
  path: string,
  schema: DescMessage,
  meta: Record<string, string> = {},
): OpenStream {
  const client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(meta)) md.set(k, v);
  const id = (b: Buffer) => b;
  const call = client.makeServerStreamRequest(
    path,
    id,
    id,
    Buffer.from(toBinary(schema, create(schema, {}))),
    md,
  );
  const s: OpenStream = {
    messages: 0,
    ended: new Promise((resolve) => {
      call.on("error", (e: grpc.ServiceError) => resolve(grpc.status[e.code] ?? String(e.code)));
      call.on("end", () => resolve("OK"));
    }),
    close: () => {
      call.cancel();
      client.close();
    },
  };
  call.on("data", () => s.messages++);
  return s;
}

/** Polls the audit log until `cond` holds on the records written after `from`. */
async function auditUntil(
  f: Fixture,
  from: number,
  cond: (recs: Record<string, unknown>[]) => boolean,
  what: string,
): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const recs = f.auditRecords().slice(from);
    if (cond(recs)) return recs;
    if (Date.now() > deadline) throw new Error(`never written: ${what}\n${JSON.stringify(recs)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `p`, or a failure naming `what` after 60 s (a stream that never ends fails, not hangs). */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited 60 s for ${what}`)), 60_000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function reload(f: Fixture, a: RunningAgent, version: number, count: number): Promise<void> {
  Deno.writeTextFileSync(f.policy, JSON.stringify(policy(version, Deno.uid()!)));
  Deno.kill(a.agentPid, "SIGHUP");
  const done = /"reload applied"/g;
  await a.waitForStderr((s) => (s.match(done) ?? []).length >= count, `reload #${count}`);
}

/** The three decisions the open streams make: one per stream. */
const OPS = ["fetch_x509_bundles", "mint", "watch"];
const decisions = (recs: Record<string, unknown>[], decision: string) =>
  recs.filter((r) => r.decision === decision && OPS.includes(String(r.op)))
    .map((r) => String(r.op)).sort();

Deno.test("reload: open SVID, bundle and Watch streams are decided again; a withdrawn grant ends them", async () => {
  const f = await Fixture.create({ catalog: catalog(), policy: (uid: number) => policy(1, uid) });
  const a = await f.start();
  const spiffe = { "workload.spiffe.io": "true" };
  const streams: OpenStream[] = [];
  try {
    const svid = openStream(f.socket, `${WORKLOAD}/FetchX509SVID`, X509SVIDRequestSchema, spiffe);
    const bundles = openStream(
      f.socket,
      `${WORKLOAD}/FetchX509Bundles`,
      X509BundlesRequestSchema,
      spiffe,
    );
    const watch = openStream(f.socket, "/basil.broker.v1.AdminService/Watch", WatchRequestSchema);
    streams.push(svid, bundles, watch);
    // Each stream's own decision is recorded once it is live.
    await auditUntil(f, 0, (r) => decisions(r, "allow").length === 3, "the three streams' records");

    let from = f.auditRecords().length;
    await reload(f, a, 2, 1);
    const kept = await auditUntil(
      f,
      from,
      (r) => decisions(r, "allow").length === 3,
      "re-decisions after a reload that keeps the grants",
    );
    assert.deepEqual(decisions(kept, "allow"), OPS);
    assert.deepEqual(decisions(kept, "deny"), []);

    from = f.auditRecords().length;
    await reload(f, a, 3, 2);
    assert.deepEqual(
      await within(Promise.all(streams.map((s) => s.ended)), "the streams to end"),
      ["PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED"],
    );
    const denied = await auditUntil(
      f,
      from,
      (r) => decisions(r, "deny").length === 3,
      "refusals after the grant was withdrawn",
    );
    assert.deepEqual(decisions(denied, "allow"), []);
    assert.ok(svid.messages >= 1 && bundles.messages >= 1, "both SPIFFE streams had answered");
  } finally {
    for (const s of streams) s.close();
    await a.stop();
    f.cleanup();
  }
});
