/**
 * Version retention (`retain-versions`): the sweep prunes transit key
 * versions older than the newest `retain`. Pruned versions are gone: verify
 * and decrypt under them fail like any other bad input.
 * @module
 */

import type { BrokerDeps } from "./deps.ts";

/** Prunes every transit key to its newest `retain` versions; returns how many keys changed. */
export async function sweepRetention(deps: BrokerDeps, retain: number): Promise<number> {
  const gen = deps.state.current();
  let pruned = 0;
  for (const key of gen.catalog.keys.values()) {
    if (key.engine !== "transit") continue;
    const t = deps.backends.get(key.backend)?.transit;
    if (!t) continue;
    try {
      const info = await t.info(key.path);
      if (!info) continue;
      const floor = info.latest - retain + 1;
      if (floor > info.minAvailable) {
        await t.prune(key.path, floor);
        pruned++;
        deps.logger.log("info", "pruned old key versions", { key: key.name, below: floor });
      }
    } catch (e) {
      deps.logger.log("warn", "retention sweep failed for a key", {
        key: key.name,
        error: e instanceof Error ? e.name : "error",
      });
    }
  }
  return pruned;
}
