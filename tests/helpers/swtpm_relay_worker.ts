/**
 * Worker half of `RecordingRelay` (see swtpm.ts): relays 127.0.0.1 ports
 * `port`, `port + 1` to `upstream`, `upstream + 1` and records every byte.
 * Messages: `{op:"start",port,upstream}`, `{op:"recorded"}`, `{op:"close"}`;
 * each is answered with `{value}` or `{error}`.
 */

/// <reference lib="deno.worker" />

const chunks: Uint8Array[] = [];
const listeners: Deno.Listener[] = [];
const conns = new Set<Deno.Conn>();
const tasks: Promise<void>[] = [];

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
  } catch { /* closed */ }
  for (const c of [from, to]) {
    if (conns.delete(c)) c.close();
  }
}

async function accept(listener: Deno.Listener, upstream: number): Promise<void> {
  try {
    for await (const down of listener) {
      const up = await Deno.connect({ hostname: "127.0.0.1", port: upstream });
      conns.add(down).add(up);
      tasks.push(pump(down, up), pump(up, down));
    }
  } catch { /* listener closed */ }
}

function recorded(): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data as { op: string; port?: number; upstream?: number };
  try {
    switch (msg.op) {
      case "start":
        for (const i of [0, 1]) {
          const l = Deno.listen({ hostname: "127.0.0.1", port: msg.port! + i });
          listeners.push(l);
          tasks.push(accept(l, msg.upstream! + i));
        }
        self.postMessage({ value: null });
        break;
      case "recorded":
        self.postMessage({ value: recorded() });
        break;
      case "close":
        for (const l of listeners) l.close();
        for (const c of conns) c.close();
        conns.clear();
        await Promise.allSettled(tasks);
        self.postMessage({ value: null });
        break;
      default:
        self.postMessage({ error: `unknown op ${msg.op}` });
    }
  } catch (err) {
    self.postMessage({ error: String(err) });
  }
};
