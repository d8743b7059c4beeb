/**
 * `[logging]` against a real agent: file logging writes JSON lines to
 * rotated files (0600, at most `keep` rotated files); native journald
 * entries reach a real `systemd-journald` (started by the test in its own
 * namespace) with structured fields, read back with `journalctl -o json`;
 * bad tables fail the start naming the field.
 */

import assert from "node:assert/strict";
import { Fixture, runAgentToExit } from "../helpers/fixture.ts";
import { gated, ROOT } from "../helpers/peers.ts";

const JOURNALD = "/lib/systemd/systemd-journald";

Deno.test("logging: file sink writes JSON lines, rotates by size and keeps `keep` files", async () => {
  const f = await Fixture.create();
  const logs = `${f.dir}/logs`;
  Deno.mkdirSync(logs, { mode: 0o700 });
  f.writeConfig({
    configExtra: [
      "[logging]",
      'level = "debug"',
      // stdout stays on (the fixture waits for the listening line there).
      "[logging.stdout]",
      "enable = true",
      "[logging.file]",
      "enable = true",
      `dir = ${JSON.stringify(logs)}`,
      'rotation = "none"',
      "max-size = 4096",
      "keep = 2",
    ].join("\n"),
  });
  const a = await f.start();
  try {
    for (let i = 0; i < 30; i++) await f.cli(["get", "--key-id", "app.nope"]);
    await f.cli(["get", "--key-id", "app.db_password"]);
  } finally {
    await a.stop();
  }
  try {
    const files = [...Deno.readDirSync(logs)].map((e) => e.name).sort();
    assert.ok(files.length >= 1 && files.length <= 3, files.join(","));
    assert.ok(files.every((n) => /^basil-agent-current(\.\d+)?\.log$/.test(n)), files.join(","));
    const all = files.map((n) => Deno.readTextFileSync(`${logs}/${n}`)).join("");
    for (const n of files) assert.equal(Deno.statSync(`${logs}/${n}`).mode! & 0o777, 0o600);
    const lines = all.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.msg === "agent stopping"), "the newest file has the stop");
    assert.ok(lines.every((l) => typeof l.ts === "string" && typeof l.level === "string"));
  } finally {
    f.cleanup();
  }
});

Deno.test("logging: a bad [logging] table names the field", async () => {
  const f = await Fixture.create();
  try {
    const cases: [string, RegExp][] = [
      ["[logging.file]\nenable = true", /logging\.file\.dir: required/],
      [
        '[logging.file]\nenable = true\ndir = "/nonexistent/x"',
        /logging\.file\.dir: \/nonexistent\/x: cannot open/,
      ],
      [
        '[logging.journald]\nenable = true\nsocket = "/nonexistent/sock"',
        /logging\.journald\.enable: no journal socket/,
      ],
      [
        "[logging.opentelemetry]\nenable = true",
        /logging\.opentelemetry\.enable: OTLP export is not in this build/,
      ],
      ['[logging.file]\nrotation = "yearly"', /logging/],
    ];
    for (const [extra, re] of cases) {
      f.writeConfig({ configExtra: extra });
      const r = await runAgentToExit(f);
      assert.notEqual(r.code, 0, extra);
      assert.match(r.stderr, re, extra);
    }
  } finally {
    f.cleanup();
  }
});

Deno.test(
  gated([ROOT, {
    met: (() => {
      try {
        return Deno.statSync(JOURNALD).isFile;
      } catch {
        return false;
      }
    })(),
    what: JOURNALD,
  }], {
    name: "logging: native journald entries reach a real systemd-journald with their fields",
    async fn() {
      const ns = `basiltest${crypto.randomUUID().slice(0, 8)}`;
      const socket = `/run/systemd/journal.${ns}/socket`;
      const jd = new Deno.Command(JOURNALD, { args: [ns], stdout: "null", stderr: "null" }).spawn();
      const f = await Fixture.create();
      try {
        const end = Date.now() + 30_000;
        while (!exists(socket)) {
          if (Date.now() > end) throw new Error("journald socket did not appear");
          await new Promise((r) => setTimeout(r, 100));
        }
        f.writeConfig({
          configExtra: `[logging.journald]\nenable = true\nsocket = ${JSON.stringify(socket)}`,
        });
        const a = await f.start();
        await a.stop();
        const entry = await pollJournal(ns, (e) => e.MESSAGE === "agent listening");
        assert.equal(entry.SYSLOG_IDENTIFIER, "basil");
        assert.equal(entry.PRIORITY, "6");
        assert.equal(entry.BASIL_SOCKET, f.socket);
        assert.match(entry.BASIL_PID ?? "", /^\d+$/);
      } finally {
        jd.kill("SIGTERM");
        await jd.status;
        f.cleanup();
        try {
          Deno.removeSync(`/run/systemd/journal.${ns}`, { recursive: true });
        } catch { /* gone */ }
      }
    },
  }),
);

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

async function pollJournal(
  ns: string,
  match: (e: Record<string, string>) => boolean,
): Promise<Record<string, string>> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const out = await new Deno.Command("journalctl", {
      args: [`--namespace=${ns}`, "-o", "json", "--no-pager"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const entries = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l));
    const hit = entries.find(match);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("entry not in the journal within 30 s");
}
