/**
 * Credential deposits on the operator's side (contract §5/§6):
 *
 * - `deposit-key BUNDLE --out FILE --open M…`: creates the X25519 ingest key
 *   in the payload if absent (same header, no epoch bump), then writes its
 *   recipient token to FILE;
 * - `allow BUNDLE --contributor PUB [--contributor-id ID] --backend ID… --open M…`:
 *   allow-lists an Ed25519 contributor key for backend ids (the id defaults
 *   to the key token; the same key merges backend ids, a new key replaces);
 * - `deposit BUNDLE --backend SPEC -r FILE -i SEEDFILE [--contributor-id ID] [--seq N]`:
 *   appends a signed, sealed record WITHOUT any unlock secret (the seq
 *   defaults to one more than the highest seq recorded for that backend id);
 * - `promote BUNDLE [--dry-run] [--backend ID…] [--contributor ID…] --open M…`:
 *   reviews every record, then folds the selected effective ones into the
 *   payload with a full reseal and bumps the epoch and its sidecar;
 * - `contributor-key -i SEEDFILE [--new]` (extension): prints a
 *   contributor's public token, creating a fresh 0600 seed with `--new`.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { toBase64Url } from "../../core/encoding.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import { x25519Generate } from "../../crypto/x25519_seal.ts";
import { parseBackendSpec } from "../../seal/backend_spec.ts";
import { wipeCred } from "../../seal/creds.ts";
import {
  contributorPublicKey,
  ingestPublicKey,
  newSeed,
  parseKeyToken,
  readRecipientFile,
  readSeedFile,
} from "../../seal/deposits/keys.ts";
import { makeDeposit } from "../../seal/deposits/record.ts";
import { depositAction, depositMeta, reviewLine } from "../../seal/deposits/review.ts";
import { editPayload } from "../../seal/edit.ts";
import { advanceEpoch, checkEpoch } from "../../seal/epoch.ts";
import { encodeBundle } from "../../seal/format.ts";
import { promoteBundle } from "../../seal/promote.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { collect } from "../options.ts";
import {
  cliSlotOptions,
  readBundle,
  withBundleLock,
  withOpeners,
  writeBundle,
  writeRecipient,
} from "./bundle_common.ts";

const ID_RE = /^[A-Za-z0-9._@:+-]{1,128}$/;

function contributorId(v: string | undefined, fallback: string): string {
  if (v === undefined) return fallback;
  if (!ID_RE.test(v)) {
    throw new CliError("--contributor-id: use 1-128 letters, digits or . _ @ : + -", 2);
  }
  return v;
}

function seqArg(v: string): number {
  if (!/^\d{1,15}$/.test(v) || Number(v) < 1) {
    throw new CliError("--seq must be a positive integer", 2);
  }
  return Number(v);
}

/** Registers deposit-key, allow, deposit, promote and contributor-key under `bundle`. */
export function registerBundleDepositCommands(bundle: Command, ctx: CliContext): void {
  bundle.command("deposit-key")
    .description("Write the deposit recipient (creates the ingest key if the bundle has none)")
    .argument("<bundle>", "bundle file")
    .requiredOption("--out <file>", "where to write the recipient token")
    .option("--open <spec>", "unlock method, e.g. passphrase:file=P", collect, [])
    .action((path, o) =>
      withBundleLock(ctx, path, async () => {
        const decoded = readBundle(path);
        const { bytes, result } = await withOpeners(
          ctx,
          o.open,
          (methods) =>
            editPayload(decoded, path, methods, (p) => {
              if (p.deposit.ingestPrivateKey !== undefined) {
                return { created: false, pub: ingestPublicKey(p.deposit.ingestPrivateKey) };
              }
              const pair = x25519Generate();
              p.deposit.ingestPrivateKey = pair.privateKey;
              return { created: true, pub: pair.publicKey };
            }),
        );
        const { created, pub } = result;
        if (created) writeBundle(path, bytes);
        writeRecipient(o.out, pub);
        if (created) ctx.io.out(`created a deposit ingest key in ${path}\n`);
        ctx.io.out(`wrote deposit recipient to ${o.out}\n`);
      })
    );

  bundle.command("allow")
    .description("Allow a contributor's Ed25519 key to deposit credentials for backend ids")
    .argument("<bundle>", "bundle file")
    .requiredOption("--contributor <pub>", "the contributor's public token (base64url, 32 bytes)")
    .option("--contributor-id <id>", "a name for the contributor (default: the token)")
    .option("--backend <id>", "a backend id the contributor may deposit", collect, [])
    .option("--open <spec>", "unlock method, e.g. passphrase:file=P", collect, [])
    .action((path, o) =>
      withBundleLock(ctx, path, async () => {
        const token = toBase64Url(parseKeyToken(o.contributor, "--contributor"));
        const id = contributorId(o.contributorId, token);
        if (o.backend.length === 0) throw new CliError("give at least one --backend <id>", 2);
        const decoded = readBundle(path);
        const { bytes, result } = await withOpeners(
          ctx,
          o.open,
          (methods) =>
            editPayload(decoded, path, methods, (p) => {
              const old = p.deposit.contributors.get(id);
              const keep = old?.public_key === token ? old.allowed_backend_ids : [];
              const allowed = [...new Set([...keep, ...o.backend])].sort();
              p.deposit.contributors.set(id, { public_key: token, allowed_backend_ids: allowed });
              return {
                allowed,
                replacedKey: old !== undefined && old.public_key !== token,
                ingest: p.deposit.ingestPrivateKey !== undefined,
              };
            }),
        );
        writeBundle(path, bytes);
        if (result.replacedKey) ctx.io.out(`note: contributor ${id} had another key; replaced\n`);
        ctx.io.out(`allowed contributor ${id} for backends ${result.allowed.join(", ")}\n`);
        if (!result.ingest) {
          ctx.io.err(
            `note: ${path} has no deposit ingest key yet; run \`basil bundle deposit-key\`\n`,
          );
        }
      })
    );

  bundle.command("deposit")
    .description("Append a signed credential deposit (needs no unlock secret)")
    .argument("<bundle>", "bundle file")
    .requiredOption("--backend <spec>", "backend credential, e.g. id=gcp1,type=gcp-kms,…")
    .requiredOption("-r, --recipient <file>", "the bundle's deposit recipient token file")
    .requiredOption("-i, --identity <file>", "the contributor's raw 32-byte Ed25519 seed (0600)")
    .option("--contributor-id <id>", "the contributor id the bundle allows (default: key token)")
    .option("--seq <n>", "sequence number (default: one more than the highest for the backend)")
    .action((path, o) =>
      withBundleLock(ctx, path, () => {
        const decoded = readBundle(path);
        const recipient = readRecipientFile(o.recipient);
        const seed = readSeedFile(o.identity);
        try {
          const token = toBase64Url(contributorPublicKey(seed.expose()));
          const who = contributorId(o.contributorId, token);
          const { id, cred } = parseBackendSpec(o.backend);
          try {
            const epoch = decoded.header.epoch;
            const seq = o.seq !== undefined ? seqArg(o.seq) : 1 + decoded.deposits
              .filter((d) => d.backend_id === id && d.epoch === epoch)
              .reduce((m, d) => Math.max(m, d.seq), 0);
            const record = makeDeposit(
              {
                bundleId: decoded.header.bundle_id,
                epoch,
                backendId: id,
                seq,
                contributorKeyId: who,
              },
              cred,
              recipient,
              seed.expose(),
            );
            writeBundle(
              path,
              encodeBundle({ ...decoded, deposits: [...decoded.deposits, record] }),
            );
            ctx.io.out(`deposited backend ${id} seq ${seq}\n`);
          } finally {
            wipeCred(cred);
          }
        } finally {
          seed.wipe();
        }
      })
    );

  bundle.command("promote")
    .description("Fold effective deposits into the sealed payload (full reseal, epoch + 1)")
    .argument("<bundle>", "bundle file")
    .option("--dry-run", "review only; write nothing")
    .option("--backend <id>", "promote only this backend id", collect, [])
    .option("--contributor <id>", "promote only this contributor id", collect, [])
    .option("--open <spec>", "unlock methods: one for every slot", collect, [])
    .action((path, o) =>
      withBundleLock(ctx, path, async () => {
        const decoded = readBundle(path);
        checkEpoch(path, decoded.header.epoch);
        const r = await withOpeners(
          ctx,
          o.open,
          (methods) =>
            promoteBundle(decoded, path, methods, {
              backends: o.backend,
              contributors: o.contributor,
            }, {
              dryRun: o.dryRun === true,
              ...cliSlotOptions(ctx),
            }),
        );
        const lines = r.reviews.map((x) => reviewLine(x, r.sealedIds));
        for (const s of r.selected) {
          const verb = r.bytes === undefined ? "would promote" : "promoted";
          lines.push(
            `${verb}: ${depositMeta(s.record)}, action=${
              depositAction(s, r.sealedIds)
            }, fingerprint=${s.fingerprint}`,
          );
        }
        if (r.bytes === undefined) {
          lines.push(
            r.selected.length === 0
              ? "nothing to promote"
              : `dry run: nothing written; promote would move ${path} to epoch ${r.newEpoch}`,
          );
        } else {
          writeBundle(path, r.bytes);
          advanceEpoch(path, r.newEpoch);
          lines.push(
            `promoted ${r.selected.length} deposit(s); ${path} is now at epoch ${r.newEpoch}`,
          );
          const left = r.reviews.filter((x) =>
            !r.selected.includes(x) &&
            !r.selected.some((s) => s.record.backend_id === x.record.backend_id)
          );
          if (left.length > 0) {
            lines.push(
              `note: ${left.length} other deposit(s) are now stale; contributors must deposit again`,
            );
          }
        }
        ctx.io.out(lines.join("\n") + "\n");
      })
    );

  bundle.command("contributor-key")
    .description("Print a contributor's public token for `bundle allow` (--new creates the seed)")
    .requiredOption("-i, --identity <file>", "the contributor's raw 32-byte Ed25519 seed")
    .option("--new", "create a fresh seed file (mode 0600); refuses to overwrite")
    .action((o) => {
      if (o.new) {
        const seed = newSeed();
        try {
          writeFileAtomic(o.identity, seed.expose(), { createNew: true });
        } catch (e) {
          if (e instanceof Deno.errors.AlreadyExists) {
            throw new CliError(`${o.identity} already exists; refusing to overwrite`);
          }
          throw e;
        } finally {
          seed.wipe();
        }
      }
      const seed = readSeedFile(o.identity);
      try {
        ctx.io.out(`${toBase64Url(contributorPublicKey(seed.expose()))}\n`);
      } finally {
        seed.wipe();
      }
    });
}
