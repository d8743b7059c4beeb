/**
 * NKey, jti and xkv1 codecs against npm @nats-io/nkeys (an independent
 * implementation), in process.
 */

import assert from "node:assert/strict";
import { createAccount, createCurve, createOperator, createUser, fromPublic } from "@nats-io/nkeys";
import { x25519 } from "@noble/curves/ed25519.js";
import { natsJti } from "../../../lib/nats/jwt.ts";
import {
  base32NoPad,
  decodePublicNkey,
  encodePublicNkey,
  fromBase32NoPad,
  seedIdentity,
} from "../../../lib/nats/nkey.ts";
import { openXkv1, sealXkv1 } from "../../../lib/nats/xkv1.ts";

Deno.test("public NKeys round-trip with @nats-io/nkeys, for every role", () => {
  for (
    const [kp, role] of [
      [createOperator(), "O"],
      [createAccount(), "A"],
      [createUser(), "U"],
      [createCurve(), "X"],
    ] as const
  ) {
    const text = kp.getPublicKey();
    const d = decodePublicNkey(text);
    assert.equal(d?.role, role);
    assert.equal(encodePublicNkey(role, d!.key), text);
    assert.equal(decodePublicNkey(text, ["N"]), undefined);
    const flipped = text.slice(0, 10) + (text[10] === "A" ? "B" : "A") + text.slice(11);
    assert.equal(decodePublicNkey(flipped), undefined, "the CRC catches a changed character");
    fromPublic(text);
  }
});

Deno.test("seedIdentity derives the same public key as @nats-io/nkeys", () => {
  const u = createUser();
  assert.deepEqual(seedIdentity(u.getSeed()), { role: "U", publicNkey: u.getPublicKey() });
  const bad = u.getSeed().slice();
  bad[20] = bad[20] === 65 ? 66 : 65;
  assert.equal(seedIdentity(bad), undefined);
  assert.equal(seedIdentity(new TextEncoder().encode(u.getPublicKey())), undefined);
});

Deno.test("base32 round trip and strictness", () => {
  for (let n = 0; n < 40; n++) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(fromBase32NoPad(base32NoPad(b)), b);
  }
  assert.equal(fromBase32NoPad("a"), undefined);
  assert.equal(fromBase32NoPad("AB"), undefined, "stray bits are refused");
});

Deno.test("jti omits empty claims and escapes like Go", () => {
  const a = natsJti({ iss: "I", sub: "S", iat: 1, name: "" });
  assert.equal(a, natsJti({ sub: "S", iat: 1, iss: "I", nats: { type: "user" }, jti: "x" }));
  assert.match(a, /^[A-Z2-7]{52}$/);
  assert.notEqual(natsJti({ name: "<&>" }), natsJti({ name: "\\u003c&>" }));
});

Deno.test("xkv1 boxes open both ways with @nats-io/nkeys xkeys", () => {
  const peer = createCurve();
  const priv = x25519.utils.randomSecretKey();
  const ours = encodePublicNkey("X", x25519.getPublicKey(priv));
  const peerPub = decodePublicNkey(peer.getPublicKey(), ["X"])!.key;
  const box = sealXkv1(priv, peerPub, new TextEncoder().encode("hi"));
  assert.equal(new TextDecoder().decode(peer.open(box, ours)!), "hi");
  const back = peer.seal(new TextEncoder().encode("yo"), ours);
  assert.equal(new TextDecoder().decode(openXkv1(priv, peerPub, back)), "yo");
  back[back.length - 1]! ^= 1;
  assert.throws(() => openXkv1(priv, peerPub, back));
});
