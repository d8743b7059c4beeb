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
import { agentPermissions, GRPC_ENV } from "../../../lib/sandbox/permissions.ts";
import { agentConfig, LIBC } from "./helpers.ts";

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
  const plan = planAgentLaunch(cfg, catalog, { libc: LIBC, getEnv: get });
  assert.deepEqual(plan.env, {
    GRPC_VERBOSITY: "ERROR",
    no_proxy: "localhost",
    DENO_DIR: "/var/cache/basil",
  });
  for (const name of Object.keys(plan.env)) {
    assert.ok(GRPC_ENV.includes(name) || RUNTIME_ENV.includes(name), name);
  }
  const text = JSON.stringify(plan);
  assert.ok(!text.includes("canary"), "no canary anywhere in the plan");
});

Deno.test("the agent process is spawned with clearEnv and exactly the plan's environment", () => {
  const { cfg, catalog } = inputs();
  const plan = planAgentLaunch(cfg, catalog, { libc: LIBC, getEnv: get });
  const o = agentCommandOptions(plan, { stdout: "inherit", stderr: "inherit" });
  assert.equal(o.clearEnv, true);
  assert.deepEqual(o.env, plan.env);
  assert.equal(o.stdin, "null");
});

Deno.test("variables the launcher may not read are skipped, not fatal", () => {
  const { cfg, catalog } = inputs();
  const perms = agentPermissions(cfg, catalog, { libc: LIBC });
  const env = agentEnvironment(perms, (n) => {
    if (n === "GRPC_TRACE") return "all";
    throw new Deno.errors.NotCapable(`Requires env access to "${n}"`);
  });
  assert.deepEqual(env, { GRPC_TRACE: "all" });
});

Deno.test("PATH is passed only when the agent may run a program (the age plugin)", () => {
  const plain = inputs();
  const noRun = agentPermissions(plain.cfg, plain.catalog, { libc: LIBC });
  assert.equal(agentEnvironment(noRun, get).PATH, undefined);
  const age = inputs("age-yubikey = true");
  const run = agentPermissions(age.cfg, age.catalog, { libc: LIBC });
  assert.deepEqual(run.run, ["age-plugin-yubikey"]);
  assert.equal(agentEnvironment(run, get).PATH, "/opt/bin:/usr/bin");
  assert.equal(agentEnvironment(run, () => undefined).PATH, undefined, "never made up");
});
