/**
 * The agent launch plan's environment: the agent process starts from an
 * empty environment holding only what its permission set lets it read (plus
 * the Deno runtime's cache location), never what the launcher inherited.
 */

import assert from "node:assert/strict";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import {
  agentCommandOptions,
  agentEnvironment,
  planAgentLaunch,
  RUNTIME_ENV,
} from "../../../lib/sandbox/launch.ts";
import { agentPermissions } from "../../../lib/sandbox/permissions.ts";
import { agentConfig, LIBS } from "./helpers.ts";

function inputs(unlock = "") {
  const cfg = agentConfig(unlock);
  const catalog = loadCatalog(
    JSON.stringify({ schemaVersion: 1, backends: {}, keys: {} }),
    "/etc/basil/catalog.json",
  ).catalog;
  return { cfg, catalog };
}

/** A launcher environment with a secret the agent must never see. */
const LAUNCHER_ENV: Record<string, string> = {
  BASIL_CANARY_SECRET: "canary-7f3a",
  VAULT_TOKEN: "hvs.canary",
  AWS_SECRET_ACCESS_KEY: "canary",
  HOME: "/home/op",
  PATH: "/opt/bin:/usr/bin",
  GRPC_VERBOSITY: "ERROR",
  no_proxy: "localhost",
  DENO_DIR: "/var/cache/basil",
};
const get = (n: string) => LAUNCHER_ENV[n];

Deno.test("the plan's environment holds only the agent's readable variables and Deno's own", () => {
  const { cfg, catalog } = inputs();
  const plan = planAgentLaunch(cfg, catalog, { ...LIBS, getEnv: get });
  assert.deepEqual(plan.env, { DENO_DIR: "/var/cache/basil" });
  for (const name of Object.keys(plan.env)) assert.ok(RUNTIME_ENV.includes(name), name);
  const text = JSON.stringify(plan);
  assert.ok(!text.includes("canary"), "no canary anywhere in the plan");
});

Deno.test("the agent process is spawned with clearEnv and exactly the plan's environment", () => {
  const { cfg, catalog } = inputs();
  const plan = planAgentLaunch(cfg, catalog, { ...LIBS, getEnv: get });
  const o = agentCommandOptions(plan, { stdout: "inherit", stderr: "inherit" });
  assert.equal(o.clearEnv, true);
  assert.deepEqual(o.env, plan.env);
  assert.equal(o.stdin, "null");
});

Deno.test("variables the launcher may not read are skipped, not fatal", () => {
  const { cfg, catalog } = inputs();
  const perms = agentPermissions(cfg, catalog, LIBS);
  const env = agentEnvironment(perms, (n) => {
    if (n === "DENO_DIR") return "/var/cache/basil";
    throw new Deno.errors.NotCapable(`Requires env access to "${n}"`);
  });
  assert.deepEqual(env, { DENO_DIR: "/var/cache/basil" });
});

Deno.test("the plan names the exact libraries, and only a spawned agent gets --parent-pid", () => {
  const { cfg, catalog } = inputs();
  const plan = planAgentLaunch(cfg, catalog, { ...LIBS, getEnv: get });
  const arg = (k: string) => plan.args[plan.args.indexOf(k) + 1];
  assert.equal(arg("--libc"), LIBS.libc);
  assert.equal(arg("--libnghttp2"), LIBS.nghttp2);
  assert.ok(!plan.args.includes("--parent-pid"), "basil agent execs: no parent to watch");
  const child = planAgentLaunch(cfg, catalog, { ...LIBS, getEnv: get, child: true });
  assert.equal(child.args[child.args.indexOf("--parent-pid") + 1], String(Deno.pid));
});

Deno.test("PATH is passed only when the agent may run a program (the age plugin)", () => {
  const plain = inputs();
  const noRun = agentPermissions(plain.cfg, plain.catalog, LIBS);
  assert.equal(agentEnvironment(noRun, get).PATH, undefined);
  const age = inputs("age-yubikey = true");
  const run = agentPermissions(age.cfg, age.catalog, LIBS);
  assert.deepEqual(run.run, ["age-plugin-yubikey"]);
  assert.equal(agentEnvironment(run, get).PATH, "/opt/bin:/usr/bin");
  assert.equal(agentEnvironment(run, () => undefined).PATH, undefined, "never made up");
});
