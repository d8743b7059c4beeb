/**
 * The agent's lifecycle through the real launcher: socket mode from bind,
 * clean SIGTERM shutdown that removes the socket, a stale socket replaced, a
 * live one refused, and a non-socket path left alone.
 */

import assert from "node:assert/strict";
import { loadCatalog } from "../../lib/catalog/load.ts";
import { loadAgentConfig } from "../../lib/config/load.ts";
import { planAgentLaunch, spawnAgent } from "../../lib/sandbox/launch.ts";
import { Fixture, runAgentToExit, RunningAgent } from "../helpers/fixture.ts";

Deno.test("agent binds 0600 by default and SIGTERM removes the socket", async () => {
  const f = await Fixture.create();
  try {
    const a = await f.start();
    const st = Deno.lstatSync(f.socket);
    assert.ok(st.isSocket);
    assert.equal(st.mode! & 0o777, 0o600);
    const h = await f.cli(["health", "--json"]);
    assert.equal(h.code, 0, h.stderr);
    assert.deepEqual(JSON.parse(h.stdout), { alive: true, version: "0.1.0" });
    const { code } = await a.stop();
    assert.equal(code, 0);
    assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound);
  } finally {
    f.cleanup();
  }
});

Deno.test("socket-mode 0660 is applied", async () => {
  const f = await Fixture.create({ socketMode: "0660" });
  try {
    const a = await f.start();
    assert.equal(Deno.lstatSync(f.socket).mode! & 0o777, 0o660);
    await a.stop();
  } finally {
    f.cleanup();
  }
});

Deno.test("a stale socket file is replaced", async () => {
  const f = await Fixture.create();
  try {
    // A socket file nobody listens on: bound by a process that then exits.
    const py = await new Deno.Command("/usr/bin/python3", {
      args: [
        "-c",
        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
        f.socket,
      ],
    }).output();
    assert.equal(py.code, 0);
    assert.ok(Deno.lstatSync(f.socket).isSocket);
    const a = await f.start();
    assert.equal((await f.cli(["health"])).code, 0);
    await a.stop();
  } finally {
    f.cleanup();
  }
});

Deno.test("a live socket is refused and the first agent keeps serving", async () => {
  const f = await Fixture.create();
  try {
    const a = await f.start();
    const second = await runAgentToExit(f);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /another agent is already listening/);
    assert.equal((await f.cli(["health"])).code, 0);
    await a.stop();
  } finally {
    f.cleanup();
  }
});

Deno.test("a path that is not a socket is never replaced", async () => {
  const f = await Fixture.create();
  try {
    Deno.writeTextFileSync(f.socket, "precious");
    const r = await runAgentToExit(f);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exists and is not a socket/);
    assert.equal(Deno.readTextFileSync(f.socket), "precious");
  } finally {
    f.cleanup();
  }
});

Deno.test("SIGINT also shuts down cleanly", async () => {
  const f = await Fixture.create();
  try {
    const a = RunningAgent.spawn(f);
    await a.ready();
    a.child.kill("SIGINT");
    const { code } = await a.exited();
    assert.equal(code, 0);
    assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound);
  } finally {
    f.cleanup();
  }
});

Deno.test("SIGTERM straight after 'agent listening' always shuts down cleanly", async () => {
  const f = await Fixture.create();
  try {
    // The agent process exactly as the launcher starts it, so the test can
    // signal it the instant the line appears (no polling delay).
    const cfg = loadAgentConfig({
      file: { path: f.config, text: Deno.readTextFileSync(f.config) },
      cwd: f.dir,
    });
    const { catalog } = loadCatalog(Deno.readTextFileSync(f.catalog), f.catalog);
    const plan = planAgentLaunch(cfg, catalog);
    for (let i = 0; i < 10; i++) {
      const child = spawnAgent(plan, { stdout: "null", stderr: "piped" });
      let text = "";
      let signalled = false;
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        if (!signalled && text.includes('"agent listening"')) {
          child.kill("SIGTERM");
          signalled = true;
        }
      }
      const st = await child.status;
      assert.ok(signalled, `round ${i}: ${text}`);
      assert.equal(st.code, 0, `round ${i}: exit ${st.code} ${st.signal ?? ""}\n${text}`);
      assert.match(text, /"agent stopped"/, `round ${i}`);
      assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound, `round ${i}`);
    }
  } finally {
    f.cleanup();
  }
});

/** The fixture's config with wiping on and a `[jwks]` table. */
function jwksConfig(f: Fixture, jwks: string): void {
  f.writeConfig({ configExtra: jwks });
  const text = Deno.readTextFileSync(f.config).replace(
    "unlock-passphrase-no-wipe = true",
    "unlock-passphrase-no-wipe = false",
  );
  Deno.writeTextFileSync(f.config, text);
}

/** Asserts a start-up failure: exit 1, one matching line, no socket, passphrase kept. */
async function assertJwksFailure(f: Fixture, expected: RegExp): Promise<void> {
  const pass = Deno.readFileSync(f.passphrase);
  const r = await runAgentToExit(f);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("basil agent:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, expected);
  assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound, "no socket left");
  assert.deepEqual(Deno.readFileSync(f.passphrase), pass, "the passphrase file is not wiped");
  assert.doesNotMatch(r.stderr, /unlock slot opened/, "nothing was unlocked");
}

Deno.test("a busy JWKS port or a bad JWKS TLS file fails the start before unlocking", async () => {
  const f = await Fixture.create();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    jwksConfig(f, `[jwks]\nenable = true\nlisten = "127.0.0.1:${port}"`);
    await assertJwksFailure(
      f,
      new RegExp(
        `^basil agent: ${f.config}: jwks\\.listen: 127\\.0\\.0\\.1:${port}: address already in use$`,
      ),
    );

    // A certificate file that holds no certificate.
    const cert = `${f.dir}/jwks-cert.pem`;
    const key = `${f.dir}/jwks-key.pem`;
    Deno.writeTextFileSync(cert, "not a certificate\n");
    Deno.writeTextFileSync(key, "not a key\n", { mode: 0o600 });
    jwksConfig(
      f,
      `[jwks]\nenable = true\nlisten = "127.0.0.1:1"\n[jwks.tls]\nenable = true\n` +
        `cert-file = ${JSON.stringify(cert)}\nkey-file = ${JSON.stringify(key)}`,
    );
    await assertJwksFailure(
      f,
      /jwks\.tls\.cert-file: .*jwks-cert\.pem: no usable PEM certificate$/,
    );
  } finally {
    taken.close();
    f.cleanup();
  }
});

Deno.test("with a free JWKS port the agent serves both the socket and /jwks.json", async () => {
  const f = await Fixture.create();
  try {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    jwksConfig(f, `[jwks]\nenable = true\nlisten = "127.0.0.1:${port}"`);
    const a = await f.start();
    try {
      assert.equal((await f.cli(["health"])).code, 0);
      const res = await fetch(`http://127.0.0.1:${port}/jwks.json`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { keys: [] });
    } finally {
      await a.stop();
    }
    assert.throws(() => Deno.lstatSync(f.passphrase), Deno.errors.NotFound, "wiped once read");
  } finally {
    f.cleanup();
  }
});
