/**
 * The lazy command table: each module registers exactly the top-level
 * commands the table lists for it (so a run loads the module that owns its
 * command), and argv is routed to the right module.
 */

import assert from "node:assert/strict";
import { Command } from "@commander-js/extra-typings";
import { COMMAND_MODULES, commandOf, modulesFor, runCli } from "../../../lib/cli/program.ts";
import type { CliContext } from "../../../lib/cli/context.ts";

const ctx: CliContext = {
  io: { out() {}, outBytes() {}, err() {}, readStdin: () => Promise.resolve(new Uint8Array()) },
  env: () => undefined,
  cwd: "/",
  socket: () => "/s",
  explicitSocket: () => undefined,
  exitCode: 0,
};

Deno.test("each command module registers exactly the commands the table names", async () => {
  const seen = new Set<string>();
  for (const m of COMMAND_MODULES) {
    const program = new Command("basil") as unknown as import("commander").Command;
    (await m.load())(program as never, ctx, { runCli, fullProgram: () => Promise.reject() });
    const names = program.commands.map((c) => c.name());
    assert.deepEqual(names, [...m.commands]);
    for (const n of names) {
      assert.ok(!seen.has(n), `${n} registered twice`);
      seen.add(n);
    }
  }
});

Deno.test("argv is routed to the module owning its command; help and unknown load all", () => {
  assert.equal(commandOf(["--socket", "/x", "get", "--key-id", "a"]), "get");
  assert.equal(commandOf(["--socket=/x", "health"]), "health");
  assert.equal(commandOf(["-V"]), undefined);
  assert.deepEqual(modulesFor(["get", "--key-id", "k"]).map((m) => m.commands[0]), ["get"]);
  assert.deepEqual(modulesFor(["bundle", "create", "b"]).map((m) => m.commands[0]), ["bundle"]);
  assert.equal(modulesFor([]).length, COMMAND_MODULES.length);
  assert.equal(modulesFor(["--help"]).length, COMMAND_MODULES.length);
  assert.equal(modulesFor(["--help", "get"]).length, COMMAND_MODULES.length);
  assert.equal(modulesFor(["nope"]).length, COMMAND_MODULES.length);
  assert.equal(modulesFor(["completions", "bash"]).length, COMMAND_MODULES.length);
});
