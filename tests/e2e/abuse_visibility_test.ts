/**
 * Abuse is visible without a log flood: garbage connections against a real
 * agent are counted in `basil_abuse_total` (by kind and reason), while the
 * log carries at most the per-reason burst of lines and the rest are
 * counted as suppressed. The agent keeps serving.
 */

import assert from "node:assert/strict";
import { Fixture } from "../helpers/fixture.ts";

const N = 40;
const BURST = 5;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Sends bytes that are not an HTTP/2 preface and waits until the agent closes the connection. */
async function garbage(socket: string): Promise<void> {
  const c = await Deno.connect({ transport: "unix", path: socket });
  try {
    await c.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + "x".repeat(64)));
    const buf = new Uint8Array(4096);
    while ((await c.read(buf)) !== null) { /* until the agent closes */ }
  } catch {
    /* reset by the agent: also closed */
  } finally {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

function value(text: string, line: RegExp): number {
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.slice(m.lastIndexOf(" ") + 1));
}

Deno.test("abuse: garbage connections are counted and logged at a bounded rate", async () => {
  const port = freePort();
  const f = await Fixture.create({
    configExtra: `[metrics]\nenable = true\nlisten = "127.0.0.1:${port}"\n`,
  });
  const a = await f.start();
  try {
    for (let i = 0; i < N; i++) await garbage(f.socket);
    const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counted = value(page, /^basil_abuse_total\{kind="protocol",reason="bad preface"\} /);
    assert.equal(counted, N, page);
    const lines = a.stderr.split("\n").filter((l) =>
      l.includes("refused or misbehaving connection")
    );
    assert.ok(lines.length >= 1, "the attack shows in the log");
    assert.ok(lines.length <= BURST, `at most ${BURST} lines, got ${lines.length}`);
    assert.equal(JSON.parse(lines[0]!).reason, "protocol: bad preface");
    assert.equal(value(page, /^basil_abuse_log_suppressed_total /), N - lines.length);
    // Still serving.
    assert.equal((await f.cli(["health"])).code, 0);
  } finally {
    await a.stop();
    f.cleanup();
  }
});
