// deno-lint-ignore-file no-console
/**
 * `deno task bench --suite nats` (issue 14 item 6): sequential round trips,
 * one in flight, from this process (unpinned: nats-server and the bridge
 * are not pinned by their helpers, so nothing is), p50 per series, over
 * `rounds` interleaved rounds (the order of the series rotated by one each
 * round); the report gives the median (min–max) of the per-round p50s.
 *
 * Every socket series uses ONE grpc-js connection per server, opened once
 * and kept open for the whole run (identity serializers, requests encoded
 * with the generated descriptors): the echo and the agent each get one.
 *
 * - `echo.invoke` / `echo.mint`: the echo on the broker's own transport
 *   (bench/h2_echo.ts), with a request of the Invoke / MintNatsUser
 *   request's size (echoed back): the floor;
 * - `invoke`: a fresh sealed sign-request through InvocationService.Invoke
 *   (build, encode, call, decode, verify the broker's signature);
 * - `invoke.inproc`: the client's own share of that in process (build the
 *   sealed request, parse and verify a sealed response). The response is
 *   sealed to a broker-held key, so the client does not decrypt it;
 * - `mint`: NatsService.MintNatsUser on an `ed25519-nkey` issuer key
 *   labelled `nats_type=A` in the keystore backend;
 * - `mint.inproc`: the same user JWT minted in process with the library the
 *   agent uses (lib/nats/issue.ts: claims, jti, Ed25519 signature) and the
 *   issuer key in hand, i.e. without transport, policy, audit or backend;
 * - `nats`: a direct NATS request-reply (same payload size as the sealed
 *   request) to a trivial responder on the same nats-server;
 * - `bridge`: the sealed sign-request through nats-server → `basil
 *   nats-bridge` → agent, verified as in `invoke`.
 *
 * Prints a table and ratios; writes bench/results/<timestamp>-nats.json.
 *
 *   deno run -A bench/nats.ts [--quick]
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { connect, credsAuthenticator } from "nats";
import { ed25519 } from "@noble/curves/ed25519.js";
import { createUser } from "@nats-io/nkeys";
import { buildSignRequest, localSigner, parseInvocation } from "../lib/cose/mod.ts";
import { generateSigningKey, signMessageAsync } from "../lib/crypto/signing.ts";
import { issueNatsJwt } from "../lib/nats/issue.ts";
import type { NatsIssuer } from "../lib/nats/issuer.ts";
import { encodePublicNkey } from "../lib/nats/nkey.ts";
import {
  InvocationService,
  NatsService,
  SigningService,
} from "../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../tests/helpers/fixture.ts";
import { startEcho } from "../tests/helpers/echo.ts";
import {
  AUDIENCE,
  CLIENT_SEED,
  NatsServer,
  RunningBridge,
  SEALED_CONFIG,
  sealedCatalog,
  sealedPolicy,
  writeBridgeConfig,
} from "../tests/e2e/nats_bridge_helpers.ts";
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
import { bench } from "./h.ts";
import type { Summary } from "./h.ts";

const SERIES = [
  "echo.invoke",
  "invoke",
  "invoke.inproc",
  "echo.mint",
  "mint",
  "mint.inproc",
  "nats",
  "bridge",
] as const;
type Series = typeof SERIES[number];

/** The MintNatsUser issuer: an account key (nats_type=A) in the keystore backend. */
const ISSUER = "nats.bench_account";
const MINT_NAME = "bench-user";
const MINT_PUB = ["bench.>"];
const MINT_SUB = ["_INBOX.>"];

/** The sealed catalog plus one NATS account issuer key. */
function benchCatalog(): unknown {
  const c = sealedCatalog() as {
    backends: { db: { mintKeyTypes: string[] } };
    keys: Record<string, unknown>;
  };
  c.backends.db.mintKeyTypes = [...c.backends.db.mintKeyTypes, "ed25519-nkey"];
  c.keys[ISSUER] = {
    class: "asymmetric",
    keyType: "ed25519-nkey",
    backend: "db",
    path: "nats/bench-account",
    writable: true,
    missing: "generate",
    labels: ["nats_type=A"],
    description: "Bench NATS account issuer",
  };
  return c;
}

/** The sealed policy plus `mint` on the issuer for the operator uid. */
function benchPolicy(uid: number): unknown {
  const p = sealedPolicy(uid, ed25519.getPublicKey(CLIENT_SEED)) as {
    rules: Record<string, unknown>[];
  };
  p.rules.push({ id: "bench-mint", subjects: ["operator"], action: ["op:mint"], target: [ISSUER] });
  return p;
}

/** Runs the NATS suite: prints medians and ratios, writes the results file. */
export async function runNats(options: BenchEnv): Promise<void> {
  // Nothing here is pinned (see the module doc), whatever --no-pin says.
  const env: BenchEnv = { ...options, pinned: false };
  const started = new Date();
  const load0 = loadavg();
  env.log(`nats: ${roundsLine(env)}; load ${load0}`);
  const f = await Fixture.create({
    catalog: benchCatalog(),
    policy: benchPolicy,
    configExtra: SEALED_CONFIG,
    audit: false,
  });
  const nats = await NatsServer.start(f.dir);
  const agent = await f.start();
  const echo = await startEcho();
  const open: { close(): unknown }[] = [];
  let bridge: RunningBridge | undefined;
  try {
    for (const k of ["inv.request", "inv.response"]) await f.cli(["new-key", "--key-id", k]);
    const toAgent = await Channel.open(f.socket);
    open.push(toAgent);
    const toEcho = await Channel.open(echo.socket);
    open.push(toEcho);

    // ---------------------------------------------------------- Invoke
    const requestPub =
      (await toAgent.call(SigningService.method.getPublicKey, { keyId: "inv.request" })).publicKey;
    const brokerPub =
      (await toAgent.call(SigningService.method.getPublicKey, { keyId: "broker.signing" }))
        .publicKey;
    const build = () =>
      buildSignRequest({
        signer: localSigner("EdDSA", CLIENT_SEED),
        senderKeyId: "nats.client",
        recipientPublicKey: requestPub,
        recipientKeyId: "inv.request",
        audience: AUDIENCE,
        responseKeyId: "inv.response",
        body: { keyId: "app.sign", message: new Uint8Array(32), algorithm: 1 },
      });
    const check = (resp: Uint8Array) => {
      parseInvocation(resp, "response").verifySignature(brokerPub);
    };
    const invoke = async () => {
      const req = await build();
      const r = await toAgent.call(InvocationService.method.invoke, { message: req.bytes });
      check(r.message);
    };
    const sampleReq = await build();
    const sampleResp =
      (await toAgent.call(InvocationService.method.invoke, { message: sampleReq.bytes })).message;
    check(sampleResp);
    const invokeReqBytes = toBinary(
      InvocationService.method.invoke.input,
      create(InvocationService.method.invoke.input, { message: sampleReq.bytes }),
    ).length;
    const invokeInproc = async () => {
      await build();
      check(sampleResp);
    };
    const echoInvokeReq = new Uint8Array(invokeReqBytes);
    const echoInvoke = () => toEcho.raw("/bench.Echo/Unary", echoInvokeReq);

    // ---------------------------------------------------------- MintNatsUser
    const userNkey = createUser().getPublicKey();
    const mintReq = {
      keyId: ISSUER,
      subjectUserNkey: userNkey,
      name: MINT_NAME,
      ttl: { seconds: 3600n, nanos: 0 },
      pubAllow: MINT_PUB,
      subAllow: MINT_SUB,
    };
    const checkJwt = (token: string) => {
      if (token.split(".").length !== 3) throw new Error(`MintNatsUser: not a JWT: ${token}`);
    };
    const mint = async () => {
      checkJwt((await toAgent.call(NatsService.method.mintNatsUser, mintReq)).token);
    };
    await mint();
    const mintReqBytes = toBinary(
      NatsService.method.mintNatsUser.input,
      create(NatsService.method.mintNatsUser.input, mintReq),
    ).length;
    const echoMintReq = new Uint8Array(mintReqBytes);
    const echoMint = () => toEcho.raw("/bench.Echo/Unary", echoMintReq);
    const issuerKey = generateSigningKey("ed25519-nkey");
    open.push({ close: () => issuerKey.privateKey[Symbol.dispose]() });
    const localIssuer: NatsIssuer = {
      role: "A",
      publicNkey: encodePublicNkey("A", issuerKey.publicKey),
      sign: (input) => signMessageAsync("ed25519-nkey", issuerKey.privateKey.expose(), input),
    };
    const mintInproc = async () => {
      const iat = Math.floor(Date.now() / 1000);
      const jwt = await issueNatsJwt(localIssuer, {
        sub: userNkey,
        name: MINT_NAME,
        iat,
        exp: iat + 3600,
      }, {
        pub: { allow: MINT_PUB },
        sub: { allow: MINT_SUB },
        subs: -1,
        data: -1,
        payload: -1,
        type: "user",
      });
      checkJwt(jwt.token);
    };

    // ---------------------------------------------------------- NATS
    const cfg = writeBridgeConfig(`${f.dir}/bridge.toml`, {
      url: nats.url,
      creds: nats.userCreds("bridge", ["_INBOX.>"], ["basil.invocation"]),
      socket: f.socket,
      subject: "basil.invocation",
    });
    bridge = new RunningBridge(cfg);
    await bridge.waitFor('"nats bridge listening"');
    const nc = await connect({
      servers: nats.url,
      authenticator: credsAuthenticator(
        Deno.readFileSync(nats.userCreds("client", ["basil.>"], ["_INBOX.>"])),
      ),
    });
    open.push({ close: () => nc.close() });
    const responder = await connect({
      servers: nats.url,
      authenticator: credsAuthenticator(
        Deno.readFileSync(nats.userCreds("responder", ["_INBOX.>"], ["basil.echo"])),
      ),
    });
    open.push({ close: () => responder.close() });
    const sub = responder.subscribe("basil.echo");
    (async () => {
      for await (const m of sub) m.respond(m.data);
    })();
    await responder.flush();
    const natsPayload = new Uint8Array(sampleReq.bytes.length);
    const direct = () => nc.request("basil.echo", natsPayload, { timeout: 30_000 });
    const bridged = async () => {
      const req = await build();
      const m = await nc.request("basil.invocation", req.bytes, { timeout: 30_000 });
      if (m.headers?.get("Basil-Bridge-Error")) {
        throw new Error(`bridge: ${m.headers.get("Basil-Bridge-Message")}`);
      }
      check(new Uint8Array(m.data));
    };

    // ---------------------------------------------------------- rounds
    const fns: Record<Series, () => Promise<unknown>> = {
      "echo.invoke": echoInvoke,
      invoke,
      "invoke.inproc": invokeInproc,
      "echo.mint": echoMint,
      mint,
      "mint.inproc": mintInproc,
      nats: direct,
      bridge: bridged,
    };
    const rounds: Record<Series, Summary>[] = [];
    for (let r = 0; r < env.rounds; r++) {
      const order = SERIES.map((_, i) => SERIES[(i + r) % SERIES.length]!);
      const got = {} as Record<Series, Summary>;
      for (const s of order) {
        got[s] = await bench(s, fns[s], { warmMs: env.warmMs, runMs: env.runMs });
        env.log(`  round ${r + 1} ${s.padEnd(14)} p50 ${got[s].p50_us} µs (n=${got[s].n})`);
      }
      rounds.push(got);
    }

    const p50 = {} as Record<Series, Agg>;
    for (const s of SERIES) p50[s] = agg(rounds.map((x) => x[s].p50_us));
    const ratio = (a: Series, b: Series) => agg(rounds.map((x) => x[a].p50_us / x[b].p50_us));
    const diff = (f: (x: Record<Series, Summary>) => number) => agg(rounds.map(f));
    const ratios = {
      "invoke/echo": ratio("invoke", "echo.invoke"),
      "invoke/inproc": ratio("invoke", "invoke.inproc"),
      "mint/echo": ratio("mint", "echo.mint"),
      "mint/inproc": ratio("mint", "mint.inproc"),
      "bridge/nats": ratio("bridge", "nats"),
      "bridge/invoke": ratio("bridge", "invoke"),
    };
    const added = {
      "invoke-echo_us": diff((x) => x.invoke.p50_us - x["echo.invoke"].p50_us),
      "mint-echo_us": diff((x) => x.mint.p50_us - x["echo.mint"].p50_us),
      "bridge-nats_us": diff((x) => x.bridge.p50_us - x.nats.p50_us),
      "bridge-nats-invoke_us": diff((x) => x.bridge.p50_us - x.nats.p50_us - x.invoke.p50_us),
    };
    const load1 = loadavg();

    console.log(`\nNATS suite: ${roundsLine(env)}; one connection per server, 1 in flight`);
    console.log(`load average: ${load0} (start), ${load1} (end)`);
    console.log(`wire: Invoke request ${invokeReqBytes} B, MintNatsUser request ${mintReqBytes} B`);
    console.log("\nseries          p50 µs");
    for (const s of SERIES) console.log(`${s.padEnd(15)} ${fmt(p50[s], 1)}`);
    console.log("");
    for (const [k, v] of Object.entries(ratios)) console.log(`${k.padEnd(22)} ${fmtX(v)}`);
    for (const [k, v] of Object.entries(added)) console.log(`${k.padEnd(22)} ${fmt(v, 1)} µs`);

    const file = writeResults(env, started, "-nats", {
      suite: "nats",
      config: {
        ...envConfig(env),
        connections: "one grpc-js connection per server (echo, agent), kept open",
        inFlight: 1,
      },
      load: { start: load0, end: load1 },
      bytes: {
        invokeRequest: invokeReqBytes,
        invokeResponse: sampleResp.length,
        mintRequest: mintReqBytes,
        natsPayload: natsPayload.length,
      },
      p50_us: p50,
      ratios,
      added_us: added,
      rounds,
    });
    console.log(`\nwrote ${file}`);
  } finally {
    for (const o of open.reverse()) {
      try {
        await o.close();
      } catch { /* closing anyway */ }
    }
    if (bridge) await bridge.stop();
    await echo.stop();
    await agent.stop();
    await nats.stop();
    f.cleanup();
  }
}

if (import.meta.main) await runNats(standaloneEnv(Deno.args));
