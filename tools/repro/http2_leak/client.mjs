// deno-lint-ignore-file no-console
import http2 from "node:http2";
import fs from "node:fs";
const [sock, pid, n] = process.argv.slice(2);
const rss = () =>
  Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;
const one = () =>
  new Promise((res) => {
    const s = http2.connect("http://x", { createConnection: () => require_net().connect(sock) });
    const r = s.request({ ":path": "/" });
    r.on("data", () => {});
    r.on("end", () => {
      s.close();
      res();
    });
    r.end();
  });
import net from "node:net";
function require_net() {
  return net;
}
const before = rss();
for (let i = 0; i < Number(n); i++) await one();
await new Promise((r) => setTimeout(r, 3000));
console.log(`rss ${before.toFixed(0)} -> ${rss().toFixed(0)} MiB after ${n} conns`);
