/**
 * `basil nats-bridge` against Debian's nats-server 2.9.10 in operator mode:
 * the bridge and the client each connect with their own `.creds`; every
 * bridge failure class comes back as an empty payload with the
 * `Basil-Bridge-*` headers (the real agent for "rejected", a missing socket
 * for "unavailable", a stand-in agent for "timeout" and "internal"); the
 * concurrency limit holds; SIGTERM drains; and, when the sealed invocation
 * library exists, a sealed sign-request through NATS comes back as a signed,
 * sealed sign-response the client verifies and opens.
 */

import assert from "node:assert/strict";
import { connect, createInbox, credsAuthenticator } from "nats";
import type { Msg, NatsConnection } from "nats";
import { ed25519 } from "@noble/curves/ed25519.js";
import { Sign1 } from "@auth0/cose";
import { importJWK } from "jose";
import { toBase64Url } from "../../lib/core/encoding.ts";
import {
  buildSignRequest,
  type CborTag,
  decodeCbor,
  decodeSignResponse,
  localSigner,
  parseInvocation,
  STATUS_CODE,
} from "../../lib/cose/mod.ts";
import { AeadService, SigningService } from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { Fixture } from "../helpers/fixture.ts";
import { rawCall } from "../helpers/rawgrpc.ts";
import { gated } from "../helpers/peers.ts";
import {
  AUDIENCE,
  CLIENT_SEED,
  FakeAgent,
  NatsServer,
  RunningBridge,
  SEALED_CONFIG,
  sealedCatalog,
  sealedPolicy,
  writeBridgeConfig,
} from "./nats_bridge_helpers.ts";

const SUBJECT = "basil.invocation";
const enc = new TextEncoder();

async function client(server: NatsServer, creds: string): Promise<NatsConnection> {
  return await connect({
    servers: server.url,
    authenticator: credsAuthenticator(Deno.readFileSync(creds)),
  });
}

function request(nc: NatsConnection, data: Uint8Array, subject = SUBJECT): Promise<Msg> {
  // A generous deadline: only a hung bridge reaches it.
  return nc.request(subject, data, { timeout: 60_000 });
}

function assertBridgeError(m: Msg, code: string, retryable: boolean): string {
  assert.equal(m.data.length, 0, "a bridge error carries an empty payload");
  assert.equal(m.headers?.get("Basil-Bridge-Error"), code);
  assert.equal(m.headers?.get("Basil-Bridge-Retryable"), String(retryable));
  const msg = m.headers?.get("Basil-Bridge-Message") ?? "";
  assert.notEqual(msg, "");
  return msg;
}

Deno.test(gated(["nats-server"], {
  name: "nats-bridge: every failure class, the concurrency limit and a draining stop",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const f = await Fixture.create();
    const nats = await NatsServer.start(f.dir);
    const agent = await f.start();
    const fake = new FakeAgent(`${f.dir}/fake.sock`);
    await fake.listen();
    const bridgeCreds = nats.userCreds("bridge", ["_INBOX.>"], [SUBJECT, "basil.fake"]);
    const clientCreds = nats.userCreds("client", ["basil.>"], ["_INBOX.>"]);
    const nc = await client(nats, clientCreds);
    const bridges: RunningBridge[] = [];
    try {
      await t.step("against the real agent: malformed, too large, rejected, no reply", async () => {
        const cfg = writeBridgeConfig(`${f.dir}/bridge-agent.toml`, {
          url: nats.url,
          creds: bridgeCreds,
          socket: f.socket,
          subject: SUBJECT,
          maxBytes: 1024,
        });
        const b = new RunningBridge(cfg, true); // config from BASIL_NATS_BRIDGE_CONFIG
        bridges.push(b);
        await b.waitFor('"nats bridge listening"');

        assertBridgeError(await request(nc, new Uint8Array()), "MALFORMED_REQUEST", false);
        const big = assertBridgeError(
          await request(nc, new Uint8Array(1025)),
          "MESSAGE_TOO_LARGE",
          false,
        );
        assert.match(big, /1025 bytes/);
        // Not a sealed request: the agent refuses it before any sealed answer.
        const rej = assertBridgeError(
          await request(nc, enc.encode("not cose")),
          "BASIL_REJECTED",
          false,
        );
        assert.match(rej, /^agent status \[/);
        // Exactly at the limit is forwarded (and refused by the agent, not the bridge).
        assertBridgeError(await request(nc, new Uint8Array(1024).fill(1)), "BASIL_REJECTED", false);
        // No reply subject: nothing to answer; the bridge logs the drop.
        nc.publish(SUBJECT, enc.encode("fire and forget"));
        await b.waitFor('"error":"MALFORMED_REQUEST","detail":"the NATS message has no reply');
      });

      await t.step("agent socket missing: BASIL_UNAVAILABLE, retryable", async () => {
        const cfg = writeBridgeConfig(`${f.dir}/bridge-none.toml`, {
          url: nats.url,
          creds: bridgeCreds,
          socket: `${f.dir}/no-agent.sock`,
          subject: "basil.none",
        });
        const b = new RunningBridge(cfg);
        bridges.push(b);
        // The bridge's own user may not subscribe to basil.none: it must say so and exit 1.
        const code = await b.child.status;
        assert.equal(code.code, 1, b.stderr);
        const allowed = nats.userCreds("bridge-none", ["_INBOX.>"], ["basil.none"]);
        writeBridgeConfig(cfg, {
          url: nats.url,
          creds: allowed,
          socket: `${f.dir}/no-agent.sock`,
          subject: "basil.none",
        });
        const b2 = new RunningBridge(cfg);
        bridges.push(b2);
        await b2.waitFor('"nats bridge listening"');
        const m = assertBridgeError(
          await request(nc, enc.encode("x"), "basil.none"),
          "BASIL_UNAVAILABLE",
          true,
        );
        assert.match(m, /cannot reach the agent at .*no socket there/);
      });

      await t.step("stand-in agent: TIMEOUT, INTERNAL, sealed bytes passed through", async () => {
        const cfg = writeBridgeConfig(`${f.dir}/bridge-fake.toml`, {
          url: nats.url,
          creds: bridgeCreds,
          socket: fake.socket,
          subject: "basil.fake",
          timeoutMs: 500,
        });
        const b = new RunningBridge(cfg);
        bridges.push(b);
        await b.waitFor('"nats bridge listening"');
        assertBridgeError(await request(nc, enc.encode("T"), "basil.fake"), "TIMEOUT", true);
        const internal = assertBridgeError(
          await request(nc, enc.encode("I"), "basil.fake"),
          "INTERNAL",
          true,
        );
        assert.match(internal, /Internal/);
        const ok = await request(nc, enc.encode("abc"), "basil.fake");
        assert.deepEqual(new Uint8Array(ok.data), enc.encode("cba"));
        assert.equal(ok.headers, undefined, "a sealed answer carries no bridge headers");
      });

      await t.step("at most concurrency-limit calls in flight; the rest wait", async () => {
        // Replace the agent-facing bridge on SUBJECT (same queue group) with
        // one in front of the stand-in, two calls at a time.
        await bridges.shift()!.stop();
        const cfg = writeBridgeConfig(`${f.dir}/bridge-limit.toml`, {
          url: nats.url,
          creds: bridgeCreds,
          socket: fake.socket,
          subject: SUBJECT,
          limit: 2,
        });
        const b = new RunningBridge(cfg);
        bridges.push(b);
        await b.waitFor('"nats bridge listening"');
        fake.maxInFlight = 0;
        const start = fake.calls;
        const replies = Array.from({ length: 6 }, (_, i) => request(nc, enc.encode(`H${i}`)));
        await nc.flush();
        await fake.signal.until(() => fake.inFlight === 2, "two calls in flight");
        // Every request has reached the server; the bridge still holds only two.
        await nc.flush();
        assert.equal(fake.inFlight, 2);
        const all = () => fake.calls - start === 6 && fake.inFlight === 0;
        const drain = async () => {
          while (!all()) {
            fake.releaseAll();
            await fake.signal.until(() => fake.held.length > 0 || all(), "the next held call");
          }
        };
        const [answers] = await Promise.all([Promise.all(replies), drain()]);
        answers.forEach((m, i) =>
          assert.deepEqual(new Uint8Array(m.data), enc.encode(`H${i}`).reverse())
        );
        assert.equal(fake.maxInFlight, 2);
      });

      await t.step("SIGTERM drains: a call in flight is answered, then exit 0", async () => {
        const b = bridges[bridges.length - 1]!;
        const held = request(nc, enc.encode("Hdrain"));
        await fake.signal.until(() => fake.held.length === 1, "the held call");
        b.child.kill("SIGTERM");
        await b.waitFor('"nats bridge draining"');
        fake.releaseAll();
        assert.deepEqual(new Uint8Array((await held).data), enc.encode("Hdrain").reverse());
        assert.equal((await b.child.status).code, 0);
        await b.waitFor('"nats bridge stopped"');
      });
    } finally {
      await nc.close();
      for (const b of bridges) await b.stop();
      await fake.close();
      await agent.stop();
      await nats.stop();
      f.cleanup();
    }
  },
}));

Deno.test(gated(["nats-server"], {
  name: "nats-bridge: a sealed sign-request over NATS gets a signed, sealed sign-response",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const clientPub = ed25519.getPublicKey(CLIENT_SEED);
    const f = await Fixture.create({
      catalog: sealedCatalog(),
      policy: (uid: number) => sealedPolicy(uid, clientPub),
      configExtra: SEALED_CONFIG,
    });
    const nats = await NatsServer.start(f.dir);
    const agent = await f.start();
    let bridge: RunningBridge | undefined;
    let nc: NatsConnection | undefined;
    try {
      for (const id of ["inv.request", "inv.response"]) {
        const nk = await f.cli(["new-key", "--key-id", id]);
        assert.equal(nk.code, 0, nk.stderr);
      }
      const pub = async (keyId: string) => {
        const r = await rawCall(f.socket, SigningService.method.getPublicKey, { keyId });
        assert.equal(r.code, "OK", JSON.stringify(r));
        return r.message!.publicKey;
      };
      const requestPub = await pub("inv.request");
      const brokerPub = await pub("broker.signing");
      const appPub = await pub("app.sign");

      const cfg = writeBridgeConfig(`${f.dir}/bridge.toml`, {
        url: nats.url,
        creds: nats.userCreds("bridge", ["_INBOX.>", "svc-a.replies"], [SUBJECT]),
        socket: f.socket,
        subject: SUBJECT,
      });
      bridge = new RunningBridge(cfg);
      await bridge.waitFor('"nats bridge listening"');
      nc = await client(nats, nats.userCreds("client", [SUBJECT], ["_INBOX.>", "svc-a.replies"]));

      const message = enc.encode("release v1.0.0");
      const build = (responseSubject?: string) =>
        buildSignRequest({
          signer: localSigner("EdDSA", CLIENT_SEED),
          senderKeyId: "nats.client",
          recipientPublicKey: requestPub,
          recipientKeyId: "inv.request",
          audience: AUDIENCE,
          responseKeyId: "inv.response",
          ...(responseSubject ? { responseSubject } : {}),
          body: { keyId: "app.sign", message, algorithm: 1 },
        });
      const verifyAndOpen = async (response: Uint8Array, req: { cti: Uint8Array }) => {
        // The independent COSE library verifies the broker's outer signature.
        const jwk = { kty: "OKP", crv: "Ed25519", x: toBase64Url(brokerPub) };
        await Sign1.decode(response).verify(await importJWK(jwk, "EdDSA"));
        const p = parseInvocation(response, "response");
        assert.equal(p.kid, "broker.signing");
        p.verifySignature(brokerPub);
        assert.deepEqual(p.header.inReplyTo, req.cti);
        const inner = (decodeCbor(response, { tags: [18, 96] }) as CborTag).value as Uint8Array[];
        const u = await rawCall(f.socket, AeadService.method.unsealCose, {
          keyId: "inv.response",
          coseEncrypt: inner[2]!,
        });
        assert.equal(u.code, "OK", JSON.stringify(u));
        return decodeSignResponse(u.message!.plaintext);
      };

      // Request-reply: the sealed answer comes back on the NATS reply subject.
      const req = await build();
      const m = await request(nc, req.bytes);
      assert.equal(m.headers?.get("Basil-Bridge-Error"), undefined, bridge.stderr);
      const body = await verifyAndOpen(new Uint8Array(m.data), req);
      assert.equal(body.status.code, STATUS_CODE.OK);
      assert.ok(ed25519.verify(body.signature!, message, appPub));

      // The sealed response_subject wins over the reply subject.
      const replies = nc.subscribe("svc-a.replies", { max: 1 });
      await nc.flush();
      const req2 = await build("svc-a.replies");
      nc.publish(SUBJECT, req2.bytes, { reply: createInbox() });
      let routed: Uint8Array | undefined;
      for await (const r of replies) routed = new Uint8Array(r.data);
      const body2 = await verifyAndOpen(routed!, req2);
      assert.equal(body2.status.code, STATUS_CODE.OK);

      // The same bytes again: the agent refuses the replay; no sealed answer.
      assertBridgeError(await request(nc, req.bytes), "BASIL_REJECTED", false);

      // The audit: the sealed actor acted; the bridge (a unix peer) only presented.
      const recs = f.auditRecords().filter((x) => x.op === "sign" && x.target_id === "app.sign");
      assert.equal(recs.length, 2, JSON.stringify(recs));
      for (const r of recs) {
        assert.equal(r.actor_id, "nats.client");
        assert.deepEqual(r.authenticated_by, ["signature-key:nats.client"]);
        assert.equal(r.presenter_kind, "unix_peercred");
        assert.equal(r.decision, "allow");
      }
    } finally {
      await nc?.close();
      if (bridge) assert.equal(await bridge.stop(), 0);
      await agent.stop();
      await nats.stop();
      f.cleanup();
    }
  },
}));
