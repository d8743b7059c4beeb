/**
 * The durability syscalls themselves (docs/durability.md), seen with strace
 * on the real CLI and agent:
 * - a bundle edit writes `<bundle>.tmp`, fsyncs it, renames it over the
 *   bundle, then fsyncs the directory;
 * - a SetSecret is answered only after the keystore's WAL and the audit
 *   line were synced (synchronous=FULL, audit-fsync=always).
 * A SIGKILL cannot show what a power loss would lose; this shows the
 * ordering that makes the power-loss guarantees hold.
 */

import assert from "node:assert/strict";
import { BrokerClient } from "../../lib/cli/client.ts";
import { SecretService } from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { basilCommand, ROOT } from "../helpers/cli.ts";
import { childPids, Fixture } from "../helpers/fixture.ts";
import { gated } from "../helpers/peers.ts";

const SYSCALLS = "trace=openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2," +
  "sendto,sendmsg,writev,accept,accept4";

/** Runs `args` (a basil command) under `strace -f -y`, writing the trace to `out`. */
async function traced(args: string[], out: string): Promise<void> {
  const c = await new Deno.Command("strace", {
    args: ["-f", "-y", "-s", "0", "-e", SYSCALLS, "-o", out, ...basilCommand(args)],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(c.code, 0, new TextDecoder().decode(c.stderr));
}

function indexOf(lines: string[], re: RegExp, from = 0): number {
  for (let i = from; i < lines.length; i++) if (re.test(lines[i]!)) return i;
  return -1;
}

Deno.test(gated(["strace"], {
  name: "durability: a bundle edit is write-temp, fsync, rename, fsync(dir)",
  fn: async () => {
    const f = await Fixture.create({ audit: false });
    try {
      const trace = `${f.dir}/trace.txt`;
      await traced([
        "bundle",
        "set-backend",
        f.bundle,
        "--backend",
        `id=db,type=db-keystore,path=${f.db},dek-file=${f.dek}`,
        "--open",
        `passphrase:file=${f.passphrase}`,
      ], trace);
      const lines = Deno.readTextFileSync(trace).split("\n");
      const tmp = `${f.bundle}.tmp`;
      const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      const open = indexOf(lines, new RegExp(`openat\\(.*"${esc(tmp)}".*O_CREAT.*= \\d+<`));
      assert.ok(open >= 0, "the temp file is created");
      const wrote = indexOf(lines, new RegExp(`write\\(\\d+<${esc(tmp)}>`), open);
      const synced = indexOf(lines, new RegExp(`fsync\\(\\d+<${esc(tmp)}>`), wrote);
      const renamed = indexOf(lines, new RegExp(`rename.*"${esc(tmp)}", .*"${esc(f.bundle)}"`));
      // strace splits a call another thread interrupts: `fsync(5</dir> <unfinished ...>`.
      const dirSync = indexOf(
        lines,
        new RegExp(`fsync\\(\\d+<${esc(f.dir)}>(\\)| <unfinished)`),
        renamed,
      );
      assert.ok(wrote > open, "written");
      assert.ok(synced > wrote, "fsynced after the write");
      assert.ok(renamed > synced, "renamed after the fsync");
      assert.ok(
        dirSync > renamed,
        "the directory fsynced after the rename:\n" +
          lines.filter((l) => /fsync|rename/.test(l)).join("\n"),
      );
    } finally {
      f.cleanup();
    }
  },
}));

Deno.test(gated(["strace"], {
  name: "durability: SetSecret is answered after the WAL and the audit line are synced",
  fn: async () => {
    const f = await Fixture.create();
    try {
      const trace = `${f.dir}/trace.txt`;
      const [cmd, ...rest] = [
        "strace",
        "-f",
        "-y",
        "-s",
        "0",
        "-e",
        SYSCALLS,
        "-o",
        trace,
        ...basilCommand(["agent", "-c", f.config]),
      ];
      const child = new Deno.Command(cmd!, {
        args: rest,
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const dec = new TextDecoder();
      let err = "";
      const reader = child.stderr.getReader();
      while (!err.includes('"agent listening"')) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`agent ended:\n${err}`);
        err += dec.decode(value, { stream: true });
      }
      const drain = (async () => {
        while (!(await reader.read()).done) { /* keep the pipe open */ }
      })();
      const client = new BrokerClient(f.socket);
      try {
        const marker = new TextEncoder().encode("durability-marker");
        const res = await client.unary(SecretService.method.setSecret, {
          secretId: "app.api_token",
          value: marker,
        });
        assert.equal(res.version, 1);
      } finally {
        client.close();
      }
      // SIGTERM to the traced agent (strace's child); strace then exits with it.
      for (const pid of childPids(child.pid)) Deno.kill(pid, "SIGTERM");
      await child.status;
      await drain;
      const lines = Deno.readTextFileSync(trace).split("\n");
      // After the one connection is accepted: the WAL written and synced,
      // the audit line written and synced, then a reply on the socket.
      const accepted = indexOf(lines, /accept4?\(.*= \d+</);
      assert.ok(accepted >= 0, "the connection is accepted");
      const walWrite = indexOf(lines, /(pwrite64|write)\(\d+<[^>]*keystore\.db-wal>/, accepted);
      const wal = indexOf(lines, /f(data)?sync\(\d+<[^>]*keystore\.db-wal>/, walWrite);
      assert.ok(
        walWrite > 0 && wal > walWrite,
        "the WAL is written, then synced (synchronous=FULL)",
      );
      const auditWrite = indexOf(lines, /write\(\d+<[^>]*audit\.jsonl>/, wal);
      const auditSync = indexOf(lines, /fdatasync\(\d+<[^>]*audit\.jsonl>/, auditWrite);
      assert.ok(auditWrite > 0 && auditSync > auditWrite, "the audit line is written, then synced");
      const reply = indexOf(lines, /(write|writev|sendto|sendmsg)\(\d+<(UNIX|socket):/, auditSync);
      assert.ok(reply > auditSync, "a reply is sent after both syncs");
    } finally {
      f.cleanup();
    }
  },
}));
