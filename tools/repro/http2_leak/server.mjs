// deno-lint-ignore-file no-console
import http2 from "node:http2";
const sock = Deno.args[0];
try {
  Deno.removeSync(sock);
} catch {
  // no stale socket
}
const server = http2.createServer();
server.on("stream", (st) => {
  st.respond({ ":status": 200 });
  st.end("ok");
});
server.listen(sock, () => console.log("ready"));
setInterval(() => {
  globalThis.gc();
  const m = Deno.memoryUsage();
  console.log(
    JSON.stringify({
      rss: Math.round(m.rss / 1048576),
      heapUsed: Math.round(m.heapUsed / 1048576),
      heapTotal: Math.round(m.heapTotal / 1048576),
      external: Math.round(m.external / 1048576),
    }),
  );
}, 2000);
