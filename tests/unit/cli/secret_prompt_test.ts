/**
 * The hidden prompt's line editing (an age plugin's PIN): backspace erases
 * and is never part of the secret, even on an empty line; Ctrl-C cancels.
 */

import assert from "node:assert/strict";
import { readSecretLine } from "../../../lib/cli/commands/bundle_common.ts";

function bytesOf(text: string): () => Promise<number | null> {
  const b = new TextEncoder().encode(text);
  let i = 0;
  return () => Promise.resolve(i < b.length ? b[i++]! : null);
}

async function line(text: string, max?: number): Promise<string | undefined> {
  const s = await readSecretLine(bytesOf(text), max);
  return s === undefined ? undefined : new TextDecoder().decode(s.expose());
}

Deno.test("Enter ends the line; end of input ends it too", async () => {
  assert.equal(await line("1234\rrest"), "1234");
  assert.equal(await line("1234\nrest"), "1234");
  assert.equal(await line("1234"), "1234");
  assert.equal(await line("\r"), "");
});

Deno.test("DEL and BS erase the last byte, and on an empty line erase nothing", async () => {
  assert.equal(await line("12x\x7f34\r"), "1234");
  assert.equal(await line("12x\x0834\r"), "1234");
  assert.equal(await line("\x7f\x7f1234\r"), "1234");
  assert.equal(await line("\x081234\r"), "1234");
});

Deno.test("Ctrl-C cancels", async () => {
  assert.equal(await line("12\x0334\r"), undefined);
});

Deno.test("at most `max` bytes are kept", async () => {
  assert.equal(await line("123456\r", 4), "1234");
});
