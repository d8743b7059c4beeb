/**
 * AeadService handlers: the request plaintext is wiped on every path, early
 * rejections included; an undeclared kem_algorithm is INVALID_ARGUMENT.
 */

import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { CallContext } from "../../../lib/service/types.ts";
import { aeadService } from "../../../lib/service/aead_service.ts";
import {
  AeadAlgorithm,
  EncryptRequestSchema,
  EnvelopeAlgorithm,
  KemAlgorithm,
  WrapEnvelopeRequestSchema,
} from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import type {
  EncryptRequest,
  WrapEnvelopeRequest,
} from "../../../lib/wire/basil/broker/v1/broker_pb.ts";
import { PEER, rejectsWith, withBroker } from "../broker/helpers.ts";

const ctx: CallContext = {
  peer: PEER,
  metadata: () => [],
  signal: new AbortController().signal,
  defer: () => {},
};

type Handlers = {
  encrypt(req: EncryptRequest, ctx: CallContext): Promise<unknown>;
  wrapEnvelope(req: WrapEnvelopeRequest, ctx: CallContext): Promise<unknown>;
};

const secret = () => new Uint8Array(32).fill(0xa5);
const wiped = (b: Uint8Array) => b.every((x) => x === 0);

Deno.test("Encrypt: a rejected algorithm still wipes the plaintext", async () => {
  await withBroker(async (b) => {
    const h = aeadService(b.deps).handlers as unknown as Handlers;
    for (const algorithm of [AeadAlgorithm.UNSPECIFIED, 77 as AeadAlgorithm]) {
      const req = create(EncryptRequestSchema, { keyId: "app.x", algorithm, plaintext: secret() });
      await rejectsWith(h.encrypt(req, ctx), "INVALID_REQUEST", /^algorithm /);
      assert.ok(wiped(req.plaintext));
    }
    const noId = create(EncryptRequestSchema, {
      algorithm: AeadAlgorithm.AES_256_GCM,
      plaintext: secret(),
    });
    await rejectsWith(h.encrypt(noId, ctx), "INVALID_REQUEST", /^key_id is required$/);
    assert.ok(wiped(noId.plaintext));
  });
});

Deno.test("WrapEnvelope: every early rejection wipes the plaintext; an unknown KEM is INVALID_ARGUMENT", async () => {
  await withBroker(async (b) => {
    const h = aeadService(b.deps).handlers as unknown as Handlers;
    const cases: [Omit<Partial<WrapEnvelopeRequest>, "$typeName" | "$unknown">, string, RegExp][] =
      [
        [{ keyId: "" }, "INVALID_REQUEST", /^key_id is required$/],
        [
          { kemAlgorithm: KemAlgorithm.UNSPECIFIED },
          "INVALID_REQUEST",
          /^kem_algorithm is required/,
        ],
        [{ kemAlgorithm: 99 as KemAlgorithm }, "INVALID_REQUEST", /^kem_algorithm has an unknown/],
        [{ envelopeAlgorithm: 99 as EnvelopeAlgorithm }, "INVALID_REQUEST", /^envelope_algorithm/],
        [{ envelopeAlgorithm: EnvelopeAlgorithm.UNSPECIFIED }, "INVALID_REQUEST", /required/],
      ];
    for (const [over, code, message] of cases) {
      const req = create(WrapEnvelopeRequestSchema, {
        keyId: "app.seal",
        kemAlgorithm: KemAlgorithm.X25519,
        envelopeAlgorithm: EnvelopeAlgorithm.CHACHA20_POLY1305,
        plaintext: secret(),
        ...over,
      });
      await rejectsWith(h.wrapEnvelope(req, ctx), code, message);
      assert.ok(wiped(req.plaintext), `plaintext wiped after ${message}`);
    }
    assert.equal(b.sink.records.length, 0, "all rejected before authorization");
  });
});
