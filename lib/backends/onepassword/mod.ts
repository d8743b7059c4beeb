/**
 * The 1Password backend (catalog kind `keystore`, bundle credential
 * `OnePassword`): versioned values (engine kv2) kept as 1Password items and
 * read through the `op` CLI when needed (materialize-to-use): each read runs
 * `op item get`, the value comes back as {@linkcode SecretBytes} the broker
 * wipes after use, and nothing is cached.
 *
 * Invariants:
 * - Only the kv role: no transit or pki (1Password holds values, not keys
 *   used in place). Values are UTF-8 text; a non-UTF-8 write is
 *   INVALID_REQUEST naming `value`, and nothing is written.
 * - Versions are the item's `version` as op reports it; only the latest is
 *   readable (an older version reads as absent).
 * - Item absent (op's "isn't an item") = absent; every other failure is
 *   BACKEND_ERROR or BACKEND_UNAVAILABLE (op.ts), never "absent".
 * - The service-account token (token form of the provider URI) is a copy
 *   owned here, passed only in the child's environment, wiped by `close()`.
 * @module
 */

import type { Backend, KvStore, KvVersion } from "../backend.ts";
import type { CatalogKey } from "../../catalog/schema.ts";
import { BasilError, InputError } from "../../core/errors.ts";
import { SecretBytes } from "../../core/secret.ts";
import type { OnePasswordCred } from "../../seal/creds.ts";
import {
  createTemplate,
  editTemplate,
  itemTitle,
  itemVersion,
  type OpItem,
  parseItem,
  valueField,
} from "./items.ts";
import { classifyOpError, opError, type OpRunner, spawnOpRunner } from "./op.ts";
import { parseProviderUri } from "./uri.ts";

export { parseProviderUri } from "./uri.ts";
export { classifyOpError } from "./op.ts";

/** Options for {@linkcode openOnePasswordBackend}. */
export interface OnePasswordBackendOptions {
  /** The catalog backend name (= bundle credential id). */
  readonly name: string;
  readonly cred: OnePasswordCred;
  /** The `op` program (default `op`, found on PATH; the sandbox allows exactly that path). */
  readonly command?: string;
  /** Replaces spawning (tests). */
  readonly runner?: OpRunner;
}

/** A 1Password {@linkcode Backend}. */
export interface OnePasswordBackend extends Backend {
  readonly kind: "keystore";
  readonly kv: KvStore;
}

/** Builds the backend; throws `InputError` naming the field for a bad credential. */
export function openOnePasswordBackend(options: OnePasswordBackendOptions): OnePasswordBackend {
  const { cred, name } = options;
  for (const f of ["project", "profile"] as const) {
    if (cred[f].trim() === "") {
      throw new InputError("backend_cred_invalid", `backend ${name}: OnePassword ${f} is empty`);
    }
  }
  const target = parseProviderUri(cred.provider_uri, `backend ${name}: OnePassword provider_uri`);
  const token = target.token;
  const runner = options.runner ??
    spawnOpRunner({ command: options.command ?? "op", ...(token ? { token } : {}) });
  const common = [
    "--vault",
    target.vault,
    ...(target.account === undefined ? [] : ["--account", target.account]),
    "--format",
    "json",
  ];
  const title = (path: string) => itemTitle(cred.project, cred.profile, path);

  /** The item for `path`, or undefined when op says it isn't there. */
  const getItem = async (path: string): Promise<OpItem | undefined> => {
    const args = ["item", "get", title(path), ...common];
    const r = await runner.run(args);
    try {
      if (r.code !== 0) {
        if (classifyOpError(r.stderr) === "not_found") return undefined;
        throw opError(args, r);
      }
      const item = parseItem(r.stdout);
      if (item === undefined) throw malformed("item get");
      return item;
    } finally {
      r.stdout.fill(0);
    }
  };

  /** Runs a write (`create`/`edit`) with its template on stdin; returns the new version. */
  const writeItem = async (args: string[], template: Uint8Array): Promise<OpItem> => {
    try {
      const r = await runner.run(args, template);
      try {
        if (r.code !== 0) throw opError(args, r);
        const item = parseItem(r.stdout);
        if (item === undefined) throw malformed(args.slice(0, 2).join(" "));
        return item;
      } finally {
        r.stdout.fill(0);
      }
    } finally {
      template.fill(0);
    }
  };

  const kv: KvStore = {
    async read(path: string, version?: number): Promise<KvVersion | undefined> {
      const item = await getItem(path);
      if (item === undefined) return undefined;
      const v = itemVersion(item);
      if (version !== undefined && version !== v) return undefined;
      const field = valueField(item);
      if (field === undefined || field.value === undefined) {
        throw new BasilError("BACKEND_ERROR", undefined, {
          detail: `op item get: the item for ${path} has no value field`,
        });
      }
      return { value: new SecretBytes(new TextEncoder().encode(field.value)), version: v };
    },
    async write(path: string, value: Uint8Array): Promise<number> {
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(value);
      } catch {
        throw new BasilError("INVALID_REQUEST", "value: 1Password stores UTF-8 text only");
      }
      const existing = await getItem(path);
      if (existing === undefined) {
        const created = await writeItem([
          "item",
          "create",
          "--category",
          "Secure Note",
          "--title",
          title(path),
          "--tags",
          `automated,${cred.project}`,
          ...common,
        ], createTemplate(cred.project, path, text));
        return itemVersion(created);
      }
      const edited = await writeItem(
        ["item", "edit", existing.id, "--template", "/dev/stdin", ...common],
        editTemplate(existing, text),
      );
      const v = itemVersion(edited);
      // op always counts an edit; a reported version that did not move is a broken answer.
      if (v <= itemVersion(existing)) throw malformed("item edit");
      return v;
    },
    async latestVersion(path: string): Promise<number | undefined> {
      const item = await getItem(path);
      return item === undefined ? undefined : itemVersion(item);
    },
  };

  return {
    name,
    kind: "keystore",
    statusName: "onepassword",
    kv,
    async exists(key: CatalogKey): Promise<boolean> {
      if (key.engine !== "kv2") return false;
      if ((await getItem(key.path)) === undefined) return false;
      return key.publicPath === undefined || (await getItem(key.publicPath)) !== undefined;
    },
    close(): void {
      token?.wipe();
    },
  };
}

function malformed(what: string): BasilError {
  return new BasilError("BACKEND_ERROR", undefined, { detail: `op ${what}: unexpected output` });
}
