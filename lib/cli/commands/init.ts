/**
 * `basil init`: writes a starting catalog, policy and agent config into
 * `--dir` (default `./basil`) and prints the next steps (contract §12).
 * Existing files are never overwritten without `--force` (all of them are
 * named); the bundle and secrets are never written. The files are 0600.
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { describeFsError, readTextInput, writeFileAtomic } from "../../core/fs.ts";
import type { CliContext } from "../context.ts";
import { abs } from "../inputs.ts";
import { CliError } from "../io.ts";
import {
  INIT_BACKENDS,
  INIT_UNLOCKS,
  initCatalog,
  initConfig,
  initFiles,
  initPolicy,
  nextSteps,
  sopsStubs,
} from "../init/scaffold.ts";
import type { InitPlan } from "../init/scaffold.ts";
import { sopsKeys } from "../init/sops.ts";

function normalizeDir(p: string): string {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** Registers `init`. */
export function registerInitCommand(program: Command, ctx: CliContext): void {
  program.command("init")
    .description("Write a starting catalog, policy and agent config, and print the next steps")
    .addOption(
      new Option("--backend <kind>", "backend flavour").choices(INIT_BACKENDS).default("openbao"),
    )
    .addOption(
      new Option("--unlock <method>", "unlock method").choices(INIT_UNLOCKS).default("bip39"),
    )
    .option("--dir <dir>", "where to write the files", "./basil")
    .option("--addr <url>", "OpenBao/Vault address", "http://127.0.0.1:8200")
    .option("--transit-mount <mount>", "transit mount", "transit")
    .option("--passphrase-file <file>", "unlock passphrase file (--unlock passphrase only)")
    .option("--from-sops <file>", "add value stubs for the secrets of a sops-nix file")
    .option("--force", "overwrite existing files")
    .action((o) => {
      if (o.passphraseFile !== undefined && o.unlock !== "passphrase") {
        throw new CliError("--passphrase-file goes with --unlock passphrase", 2);
      }
      if (o.backend !== "keystore" && !/^https?:\/\/[^\s@/]+/.test(o.addr)) {
        throw new CliError("--addr must be an http(s) URL without credentials", 2);
      }
      const uid = Deno.uid();
      if (uid === null) throw new CliError("cannot determine the current uid");
      const dir = normalizeDir(abs(o.dir, ctx.cwd));
      if (/["\\\n,]/.test(dir)) {
        throw new CliError("--dir must not contain quotes, backslashes, commas or newlines", 2);
      }
      const socket = abs(ctx.explicitSocket() ?? `${dir}/basil.sock`, ctx.cwd);
      if (new TextEncoder().encode(socket).length > 107) {
        throw new CliError(`socket path ${socket} is longer than 107 bytes; use --socket`, 2);
      }
      let sops: InitPlan["sops"];
      if (o.fromSops !== undefined) {
        const file = abs(o.fromSops, ctx.cwd);
        sops = { file, keys: sopsKeys(readTextInput(file, "--from-sops"), file) };
      }
      const plan: InitPlan = {
        dir,
        backend: o.backend,
        unlock: o.unlock,
        addr: o.addr.replace(/\/+$/, ""),
        transitMount: o.transitMount,
        passphraseFile: o.passphraseFile === undefined ? undefined : abs(o.passphraseFile, ctx.cwd),
        socket,
        uid,
        sops,
      };
      try {
        sopsStubs(plan);
      } catch (e) {
        throw new CliError(`--from-sops: ${(e as Error).message}`);
      }
      const f = initFiles(dir);
      const targets: [string, string][] = [
        [f.catalog, JSON.stringify(initCatalog(plan), null, 2) + "\n"],
        [f.policy, JSON.stringify(initPolicy(plan), null, 2) + "\n"],
        [f.config, initConfig(plan)],
      ];
      const existing = targets.map(([p]) => p).filter((p) => {
        try {
          Deno.lstatSync(p);
          return true;
        } catch {
          return false;
        }
      });
      if (existing.length > 0 && !o.force) {
        throw new CliError(
          `refusing to overwrite ${existing.join(", ")} (use --force to replace them)`,
        );
      }
      try {
        Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
        for (const [p, text] of targets) {
          writeFileAtomic(p, new TextEncoder().encode(text), { mode: 0o600 });
        }
      } catch (e) {
        throw new CliError(`cannot write into ${dir}: ${describeFsError(e)}`);
      }
      ctx.io.out(nextSteps(plan, targets.map(([p]) => p)));
    });
}
