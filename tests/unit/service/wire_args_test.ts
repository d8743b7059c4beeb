/**
 * Durations: only valid, non-negative protobuf Durations pass; fractional
 * seconds round up; errors name the field.
 */

import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { durationSecs, MAX_DURATION_SECS } from "../../../lib/service/wire_args.ts";
import { rejectsWith } from "../broker/helpers.ts";

const d = (seconds: bigint, nanos: number) => create(DurationSchema, { seconds, nanos });

Deno.test("durationSecs: absent, whole and fractional values", () => {
  assert.equal(durationSecs(undefined, "ttl", "mint"), undefined);
  assert.equal(durationSecs(d(0n, 0), "ttl", "mint"), 0);
  assert.equal(durationSecs(d(60n, 0), "ttl", "mint"), 60);
  assert.equal(durationSecs(d(60n, 1), "ttl", "mint"), 61);
  assert.equal(durationSecs(d(0n, 999_999_999), "ttl", "mint"), 1);
  assert.equal(durationSecs(d(MAX_DURATION_SECS, 0), "ttl", "mint"), 315_576_000_000);
});

Deno.test("durationSecs: negative, out-of-range and malformed durations name the field", async () => {
  const bad: [bigint, number, RegExp][] = [
    [-1n, 0, /^ttl must not be negative$/],
    [0n, -1, /^ttl must not be negative$/],
    [1n, 1_000_000_000, /^ttl is not a valid duration$/],
    [0n, 2 ** 31 - 1, /^ttl is not a valid duration$/],
    [MAX_DURATION_SECS + 1n, 0, /^ttl is not a valid duration$/],
    [2n ** 62n, 0, /^ttl is not a valid duration$/],
  ];
  for (const [s, n, message] of bad) {
    const e = await rejectsWith(
      () => durationSecs(d(s, n), "ttl", "mint"),
      "INVALID_REQUEST",
      message,
    );
    assert.equal(e.op, "mint");
  }
});
