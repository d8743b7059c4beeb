/** Shared fixtures for the agent configuration tests. */

import assert from "node:assert/strict";
import { loadAgentConfig } from "../../../lib/config/load.ts";
import type { LoadConfigOptions } from "../../../lib/config/load.ts";
import type { AgentConfig, ConfigOverrides } from "../../../lib/config/schema.ts";
import { InputError } from "../../../lib/core/errors.ts";

export const CFG = "/etc/basil/agent.toml";
export const INPUTS =
  'catalog = "catalog.json"\npolicy = "policy.json"\nbundle = "bundle.sealed"\n';

export function load(text: string, overrides?: ConfigOverrides, path = CFG): AgentConfig {
  const opts: LoadConfigOptions = { file: { path, text }, cwd: "/home/op/work" };
  if (overrides) opts.overrides = overrides;
  return loadAgentConfig(opts);
}

export function assertConfigError(
  run: () => unknown,
  field: string,
  reason: RegExp,
  file = CFG,
): InputError {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof InputError, `expected InputError, got ${String(caught)}`);
  assert.equal(caught.token, "config_invalid");
  assert.ok(caught.message.startsWith(`${file}: `), `no file in: ${caught.message}`);
  assert.ok(caught.message.includes(field), `no ${field} in: ${caught.message}`);
  assert.match(caught.message, reason);
  return caught;
}
