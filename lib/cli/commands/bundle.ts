/**
 * `basil bundle create|verify|show`: the sealed bundle on the operator's side.
 * Secrets come only from 0600 files named in `--slot`/`--open`/`--backend`
 * specs, never from argv. `verify` and `show` write nothing.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { InputError } from "../../core/errors.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import { collectBackends, parseBackendSpec } from "../../seal/backend_spec.ts";
import { createBundle, openBundle } from "../../seal/bundle.ts";
import { credKind, wipeCreds } from "../../seal/creds.ts";
import { describeBundle, formatBundleDescription } from "../../seal/describe.ts";
import { readEpochSidecar } from "../../seal/epoch.ts";
import { loadSlotSpecs, parseOpenSpec, parseSlotSpec } from "../../seal/slot_spec.ts";
import type { SlotMethod } from "../../seal/slots/types.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";

const collect = (v: string, acc: string[]): string[] => [...acc, v];

function readBundle(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new InputError(
      "bundle_unreadable",
      `bundle ${path}: cannot read: ${
        e instanceof Deno.errors.NotFound ? "no such file" : "error"
      }`,
    );
  }
}

function openers(specs: readonly string[]): SlotMethod[] {
  if (specs.length === 0) throw new CliError("give at least one --open <method:…>", 2);
  return loadSlotSpecs(specs.map(parseOpenSpec)).map((s) => s.method);
}

/** Creates a bundle file from specs; shared with `basil demo`. */
export async function createBundleFile(
  path: string,
  slotSpecs: readonly string[],
  backendSpecs: readonly string[],
  options: { force?: boolean } = {},
): Promise<void> {
  if (slotSpecs.length === 0) throw new CliError("give at least one --slot <method:…>", 2);
  let exists = false;
  try {
    Deno.lstatSync(path);
    exists = true;
  } catch { /* new file */ }
  if (exists && !options.force) {
    throw new CliError(`bundle ${path} already exists; pass --force to replace it`);
  }
  const backends = collectBackends(backendSpecs.map(parseBackendSpec));
  const slots = loadSlotSpecs(slotSpecs.map(parseSlotSpec));
  try {
    const bytes = await createBundle({ slots, backends });
    writeFileAtomic(path, bytes);
  } finally {
    for (const s of slots) s.method.dispose();
    wipeCreds(backends);
  }
}

/** Registers the bundle commands. */
export function registerBundleCommands(program: Command, ctx: CliContext): void {
  const bundle = program.command("bundle").description("Create and inspect sealed bundles");

  bundle.command("create")
    .description("Seal backend credentials into a new bundle (mode 0600)")
    .argument("<bundle>", "path of the bundle file to write")
    .option("--slot <spec>", "unlock slot, e.g. passphrase:file=/run/secrets/pass", collect, [])
    .option("--backend <spec>", "backend credential, e.g. id=db,type=db-keystore,…", collect, [])
    .option("--deposit-key <file>", "write the deposit recipient (not in this build yet)")
    .option("--force", "replace an existing bundle file")
    .action(async (path, o) => {
      if (o.depositKey !== undefined) {
        throw new CliError("--deposit-key is not supported by this build yet");
      }
      await createBundleFile(path, o.slot, o.backend, { force: o.force });
      ctx.io.out(`wrote sealed bundle to ${path}\n`);
      const sidecar = readEpochSidecar(path);
      if (sidecar !== undefined && sidecar > 1) {
        ctx.io.err(
          `note: ${path}.epoch records epoch ${sidecar}; the agent refuses this new bundle (epoch 1) until you remove that file\n`,
        );
      }
    });

  bundle.command("verify")
    .description("Check that the given unlock methods open the bundle (writes nothing)")
    .argument("<bundle>", "bundle file")
    .option("--open <spec>", "unlock method, e.g. passphrase:file=P", collect, [])
    .action(async (path, o) => {
      const methods = openers(o.open);
      try {
        const opened = await openBundle(readBundle(path), path, methods);
        opened.wipe();
      } finally {
        for (const m of methods) m.dispose();
      }
      ctx.io.out("bundle unlock verified\n");
    });

  bundle.command("show")
    .description("Print plaintext metadata; with --open, also the credential kinds")
    .argument("<bundle>", "bundle file")
    .option("--open <spec>", "unlock method, e.g. passphrase:file=P", collect, [])
    .action(async (path, o) => {
      const bytes = readBundle(path);
      const lines = formatBundleDescription(path, describeBundle(bytes, path));
      if (o.open.length > 0) {
        const methods = openers(o.open);
        try {
          const opened = await openBundle(bytes, path, methods);
          try {
            for (const [id, cred] of [...opened.backends].sort(([a], [b]) => a.localeCompare(b))) {
              lines.push(`backend ${id}: kind=${credKind(cred)}`);
            }
          } finally {
            opened.wipe();
          }
        } finally {
          for (const m of methods) m.dispose();
        }
      }
      ctx.io.out(lines.join("\n") + "\n");
    });
}
