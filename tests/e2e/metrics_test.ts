/**
 * The opt-in Prometheus endpoint against a real agent: calls over the socket
 * show up as request, decision and latency series; the page passes Debian's
 * `promtool check metrics`; a real Prometheus scrapes it (target up, a query
 * returns the agent's series); only GET /metrics is served; no key name or
 * subject appears in a label; the sandbox grants exactly the metrics address.
 */

import assert from "node:assert/strict";
import { childPids, Fixture, readProc } from "../helpers/fixture.ts";
import { gated } from "../helpers/peers.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function netFlag(pid: number): string[] {
  const argv = new TextDecoder().decode(readProc(`/proc/${pid}/cmdline`)).split("\0");
  const net = argv.find((x) => x.startsWith("--allow-net=")) ?? "";
  return net.slice("--allow-net=".length).split(",").sort();
}

/** Polls `check` until it returns a value, at most `ms` (a deadline, not a sleep for an event). */
async function poll<T>(what: string, check: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

async function withMetricsAgent(
  fn: (f: Fixture, port: number, pid: number) => Promise<void>,
  extra = "",
): Promise<void> {
  const port = freePort();
  const f = await Fixture.create({
    configExtra: `[metrics]\nenable = true\nlisten = "127.0.0.1:${port}"\n${extra}`,
  });
  const a = await f.start();
  try {
    assert.deepEqual(childPids(a.agentPid), []);
    await fn(f, port, a.agentPid);
  } finally {
    await a.stop();
    f.cleanup();
  }
}

const scrape = async (port: number) => {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  return await r.text();
};

const series = (text: string, name: string) =>
  text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

Deno.test("metrics: calls are counted by service, method, code, op and outcome; GET /metrics only", async () => {
  await withMetricsAgent(async (f, port, pid) => {
    assert.deepEqual(netFlag(pid), [`127.0.0.1:${port}`, `unix:${f.socket}`].sort());
    assert.equal((await f.cli(["get", "--key-id", "app.db_password"])).code, 0);
    assert.notEqual((await f.cli(["get", "--key-id", "app.nope"])).code, 0);
    const text = await scrape(port);
    assert.ok(
      series(text, "basil_grpc_requests_total").some((l) =>
        /service="basil\.broker\.v1\.SecretService",method="GetSecret",code="OK"\} [1-9]/.test(l)
      ),
      text,
    );
    assert.ok(
      series(text, "basil_decisions_total").some((l) => /op="get",outcome="allow"/.test(l)),
    );
    assert.ok(series(text, "basil_decisions_total").some((l) => /op="get",outcome="deny"/.test(l)));
    assert.ok(
      series(text, "basil_grpc_request_duration_seconds_count").some((l) => / [1-9]\d*$/.test(l)),
    );
    assert.match(text, /^basil_generation 1$/m);
    assert.match(text, /^basil_audit_write_failures_total 0$/m);
    assert.match(text, /^basil_connections_total [1-9]/m);
    assert.match(text, /^basil_backend_up\{backend="db"\} 1$/m);
    assert.ok(!text.includes("app.db_password") && !text.includes("app.nope"), "no key names");
    assert.equal(series(text, "basil_decisions_by_subject_total").length, 0, "no subjects");

    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST", body: "x" });
    await post.body?.cancel();
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
    const other = await fetch(`http://127.0.0.1:${port}/`);
    await other.body?.cancel();
    assert.equal(other.status, 404);
  });
});

Deno.test(
  gated(["promtool"], {
    name: "metrics: the page passes promtool check metrics",
    async fn() {
      await withMetricsAgent(async (f, port) => {
        await f.cli(["get", "--key-id", "app.db_password"]);
        const text = await scrape(port);
        const p = new Deno.Command("promtool", {
          args: ["check", "metrics"],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const w = p.stdin.getWriter();
        await w.write(new TextEncoder().encode(text));
        await w.close();
        const out = await p.output();
        const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, said);
        // promtool does judge: a broken line fails.
        const bad = new Deno.Command("promtool", {
          args: ["check", "metrics"],
          stdin: "piped",
          stderr: "piped",
          stdout: "piped",
        }).spawn();
        const bw = bad.stdin.getWriter();
        await bw.write(new TextEncoder().encode("# TYPE x counter\nx{a=b} 1\n"));
        await bw.close();
        assert.notEqual((await bad.output()).code, 0);
      });
    },
  }),
);

Deno.test(
  gated(["prometheus"], {
    name: "metrics: a real Prometheus scrapes the agent",
    async fn() {
      await withMetricsAgent(async (f, port) => {
        await f.cli(["get", "--key-id", "app.db_password"]);
        const dir = await Deno.makeTempDir({ prefix: "basil-prom-" });
        const promPort = freePort();
        Deno.writeTextFileSync(
          `${dir}/prometheus.yml`,
          [
            "global:",
            "  scrape_interval: 1s",
            "scrape_configs:",
            "  - job_name: basil",
            "    static_configs:",
            `      - targets: ["127.0.0.1:${port}"]`,
          ].join("\n") + "\n",
        );
        const prom = new Deno.Command("prometheus", {
          args: [
            `--config.file=${dir}/prometheus.yml`,
            `--web.listen-address=127.0.0.1:${promPort}`,
            `--storage.tsdb.path=${dir}/data`,
          ],
          stdout: "null",
          stderr: "null",
        }).spawn();
        try {
          const api = `http://127.0.0.1:${promPort}/api/v1`;
          const target = await poll("target up", async () => {
            const r = await (await fetch(`${api}/targets`)).json();
            const t = r.data.activeTargets.find((x: { labels: { job: string } }) =>
              x.labels.job === "basil"
            );
            return t?.health === "up" ? t : undefined;
          });
          assert.equal(target.scrapeUrl, `http://127.0.0.1:${port}/metrics`);
          const q = encodeURIComponent('basil_decisions_total{op="get",outcome="allow"}');
          const value = await poll("query result", async () => {
            const r = await (await fetch(`${api}/query?query=${q}`)).json();
            return r.data.result[0]?.value?.[1] as string | undefined;
          });
          assert.ok(Number(value) >= 1);
        } finally {
          prom.kill("SIGTERM");
          await prom.status;
          await Deno.remove(dir, { recursive: true });
        }
      });
    },
  }),
);

Deno.test("metrics: subject labels only when configured", async () => {
  await withMetricsAgent(async (f, port) => {
    await f.cli(["get", "--key-id", "app.db_password"]);
    const text = await scrape(port);
    assert.ok(
      series(text, "basil_decisions_by_subject_total").some((l) =>
        /op="get",outcome="allow",subject="/.test(l)
      ),
      text,
    );
  }, "subject-labels = true");
});

Deno.test("metrics: a non-loopback listen needs allow-non-loopback; a bad table names the field", async () => {
  const { loadAgentConfig } = await import("../../lib/config/load.ts");
  const base = 'catalog = "c"\npolicy = "p"\nbundle = "b"\n';
  const load = (t: string) =>
    loadAgentConfig({ file: { path: "/x/agent.toml", text: base + t }, cwd: "/" });
  assert.throws(
    () => load('[metrics]\nenable = true\nlisten = "0.0.0.0:9464"\n'),
    /metrics\.listen: 0\.0\.0\.0 is not a loopback address/,
  );
  assert.equal(
    load('[metrics]\nenable = true\nlisten = "0.0.0.0:9464"\nallow-non-loopback = true\n').metrics
      ?.listen.host,
    "0.0.0.0",
  );
  assert.throws(() => load('[metrics]\nlisten = "nope"\n'), /metrics\.listen: must be "ip:port"/);
  assert.throws(() => load("[metrics]\nenabled = true\n"), /metrics/);
  assert.equal(load("").metrics?.enable, false);
});
