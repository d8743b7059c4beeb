/**
 * `basil bundle add-slot|remove-slot|set-backend`: changes that keep the
 * bundle's header and epoch (contract §5/§6).
 *
 * - `add-slot BUNDLE --slot SPEC --open M…`: wraps the same master KEK for
 *   slot id max+1; the payload is untouched. A generated BIP39 phrase
 *   (`--slot bip39`) is printed once, after the write.
 * - `remove-slot BUNDLE --slot-id N --open M…`: refuses the last slot, and
 *   needs an `--open` for a slot that stays (the removed one does not count).
 * - `set-backend BUNDLE --backend SPEC --open M…`: replaces (or adds) one
 *   credential; the payload is re-encrypted under the same header.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { parseBackendSpec } from "../../seal/backend_spec.ts";
import { wipeCred } from "../../seal/creds.ts";
import { addSlot, editPayload, removeSlot } from "../../seal/edit.ts";
import { loadSlotSpecs, parseSlotSpec } from "../../seal/slot_spec.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { collect } from "../options.ts";
import {
  cliSlotOptions,
  printPhrase,
  readBundle,
  withBundleLock,
  withOpeners,
  writeBundle,
} from "./bundle_common.ts";

function slotIdArg(v: string): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffff_ffff) {
    throw new CliError("--slot-id must be a slot number (see `basil bundle show`)", 2);
  }
  return Number(v);
}

/** Registers add-slot, remove-slot and set-backend under `bundle`. */
export function registerBundleEditCommands(bundle: Command, ctx: CliContext): void {
  bundle.command("add-slot")
    .description("Add an unlock slot (wraps the same master key; the payload is unchanged)")
    .argument("<bundle>", "bundle file")
    .requiredOption("--slot <spec>", "the new slot, e.g. age-yubikey:recipient=age1…")
    .option("--open <spec>", "an existing unlock method, e.g. passphrase:file=P", collect, [])
    .action((path, o) =>
      withBundleLock(ctx, path, async () => {
        const decoded = readBundle(path);
        const spec = parseSlotSpec(o.slot);
        const loaded = await loadSlotSpecs([spec], cliSlotOptions(ctx));
        try {
          const { bytes, slotId } = await withOpeners(
            ctx,
            o.open,
            (methods) => addSlot(decoded, path, methods, loaded.slots[0]!),
          );
          writeBundle(path, bytes);
          ctx.io.out(
            `added slot ${slotId} (method=${spec.kind}, label=${spec.label}) to ${path}\n`,
          );
          const phrase = loaded.phrases[0];
          if (phrase !== undefined) printPhrase(ctx, path, slotId, phrase.expose());
        } finally {
          loaded.dispose();
        }
      })
    );

  bundle.command("remove-slot")
    .description("Remove an unlock slot (never the last; open with a slot that stays)")
    .argument("<bundle>", "bundle file")
    .requiredOption("--slot-id <n>", "id of the slot to remove (see `basil bundle show`)")
    .option("--open <spec>", "an unlock method for a slot that stays", collect, [])
    .action((path, o) =>
      withBundleLock(ctx, path, async () => {
        const slotId = slotIdArg(o.slotId);
        const decoded = readBundle(path);
        const bytes = await withOpeners(
          ctx,
          o.open,
          (methods) => removeSlot(decoded, path, methods, slotId),
        );
        writeBundle(path, bytes);
        ctx.io.out(`removed slot ${slotId} from ${path}\n`);
      })
    );

  bundle.command("set-backend")
    .description("Replace one backend credential in the sealed payload (no epoch bump)")
    .argument("<bundle>", "bundle file")
    .requiredOption("--backend <spec>", "backend credential, e.g. id=bao,type=openbao,…")
    .option("--open <spec>", "unlock method, e.g. passphrase:file=P", collect, [])
    .action((path, o) =>
      withBundleLock(ctx, path, async () => {
        const decoded = readBundle(path);
        const { id, cred } = parseBackendSpec(o.backend);
        let used = false;
        try {
          const { bytes, result: replaced } = await withOpeners(
            ctx,
            o.open,
            (methods) =>
              editPayload(decoded, path, methods, (payload) => {
                const old = payload.backends.get(id);
                if (old !== undefined) wipeCred(old);
                payload.backends.set(id, cred);
                used = true;
                return old !== undefined;
              }),
          );
          writeBundle(path, bytes);
          ctx.io.out(`${replaced ? "replaced backend" : "added backend"} ${id} in ${path}\n`);
        } finally {
          if (!used) wipeCred(cred);
        }
      })
    );
}
