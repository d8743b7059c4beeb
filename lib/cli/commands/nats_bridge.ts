/**
 * `basil nats-bridge -c FILE` (env BASIL_NATS_BRIDGE_CONFIG): the NATS
 * courier of sealed invocations (contract §11.5, lib/nats_bridge). It runs
 * in the foreground under the CLI's own Deno permissions until SIGTERM or
 * SIGINT, then drains: messages already taken are answered before it exits.
 * It logs one JSON line per event on stderr.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { InputError } from "../../core/errors.ts";
import { loadBridgeConfig } from "../../nats_bridge/config.ts";
import { SocketInvoker } from "../../nats_bridge/invoker.ts";
import { startBridge } from "../../nats_bridge/run.ts";
import type { BridgeLog } from "../../nats_bridge/run.ts";
import type { CliContext } from "../context.ts";

/** Registers `nats-bridge`. */
export function registerNatsBridgeCommand(program: Command, ctx: CliContext): void {
  program.command("nats-bridge")
    .description("Carry sealed invocations between NATS and the agent (courier only)")
    .option("-c, --config <file>", "bridge config TOML (env BASIL_NATS_BRIDGE_CONFIG)")
    .action(async (o) => {
      const given = o.config ?? ctx.env("BASIL_NATS_BRIDGE_CONFIG");
      if (given === undefined || given === "") {
        throw new InputError(
          "config_invalid",
          "nats-bridge: a config file is required (-c FILE or BASIL_NATS_BRIDGE_CONFIG)",
        );
      }
      const path = given.startsWith("/") ? given : `${ctx.cwd}/${given}`;
      const config = await loadBridgeConfig(path);
      const log: BridgeLog = (level, msg, fields = {}) =>
        ctx.io.err(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + "\n");
      const invoker = new SocketInvoker(config.socket, config.timeoutMs);
      let bridge;
      try {
        bridge = await startBridge(config, invoker, log);
      } catch (e) {
        invoker.close();
        const why = e instanceof Error ? e.message : String(e);
        log("error", "nats bridge cannot start", { detail: why });
        ctx.exitCode = 1;
        return;
      }
      const onSignal = () => void bridge.stop();
      Deno.addSignalListener("SIGTERM", onSignal);
      Deno.addSignalListener("SIGINT", onSignal);
      try {
        await bridge.done;
      } catch (e) {
        log("error", "nats bridge lost its NATS connection", {
          detail: e instanceof Error ? e.message : String(e),
        });
        ctx.exitCode = 1;
      } finally {
        Deno.removeSignalListener("SIGTERM", onSignal);
        Deno.removeSignalListener("SIGINT", onSignal);
      }
    });
}
