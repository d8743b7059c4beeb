/** gRPC wire details: grpc-timeout units, grpc-message percent-encoding, message reassembly. */

import assert from "node:assert/strict";
import {
  encodeGrpcMessage,
  MessageReader,
  parseGrpcTimeout,
  statusTrailers,
} from "../../../lib/transport/grpc_wire.ts";

Deno.test("grpc-timeout: every unit, at most 8 digits, anything else malformed", () => {
  assert.equal(parseGrpcTimeout("2H"), 7_200_000);
  assert.equal(parseGrpcTimeout("3M"), 180_000);
  assert.equal(parseGrpcTimeout("5S"), 5000);
  assert.equal(parseGrpcTimeout("250m"), 250);
  assert.equal(parseGrpcTimeout("1500u"), 1.5);
  assert.equal(parseGrpcTimeout("2000000n"), 2);
  assert.equal(parseGrpcTimeout("99999999H"), 2 ** 31 - 1, "capped to what a timer holds");
  for (const bad of ["", "5", "S", "123456789S", "-1S", "1.5S", "5s ", "5x"]) {
    assert.equal(parseGrpcTimeout(bad), undefined, bad);
  }
});

Deno.test("grpc-message: printable ASCII stays, the rest (and %) is percent-encoded, capped", () => {
  assert.equal(encodeGrpcMessage("not authorized"), "not authorized");
  assert.equal(encodeGrpcMessage("50% é\n"), "50%25 %C3%A9%0A");
  assert.equal(encodeGrpcMessage("x".repeat(5000)).length, 1024);
  assert.deepEqual(statusTrailers(0, ""), [["grpc-status", "0"]]);
  assert.deepEqual(statusTrailers(5, "gone", Uint8Array.of(0xfb, 0xff)), [
    ["grpc-status", "5"],
    ["grpc-message", "gone"],
    ["grpc-status-details-bin", "+/8"],
  ]);
});

Deno.test("MessageReader: one message across any chunking; faults named", () => {
  const msg = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
  const framed = new Uint8Array(5 + msg.length);
  new DataView(framed.buffer).setUint32(1, msg.length);
  framed.set(msg, 5);
  for (const step of [1, 2, 5, 7, 64, 305]) {
    const r = new MessageReader(1000);
    for (let i = 0; i < framed.length; i += step) r.push(framed.slice(i, i + step));
    assert.deepEqual(r.message(), msg, `chunks of ${step}`);
  }
  const partial = new MessageReader(1000);
  partial.push(framed.slice(0, 100));
  assert.equal(partial.message(), undefined);
  const big = new MessageReader(299);
  big.push(framed.slice(0, 5));
  assert.equal(big.fault, "too_large");
  const flag = new MessageReader(1000);
  flag.push(Uint8Array.of(2, 0, 0, 0, 0));
  assert.equal(flag.fault, "bad_flag");
  const two = new MessageReader(1000);
  two.push(Uint8Array.of(0, 0, 0, 0, 0, 0));
  assert.equal(two.fault, "extra_message");
});
