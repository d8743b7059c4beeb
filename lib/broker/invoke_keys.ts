/**
 * Key access for sealed invocations, after the decisions were made (see
 * invoke.ts): sign with a catalog key in place (transit, or a kv2 seed read
 * for one operation and wiped), and read an X25519 sealing key's halves.
 * Nothing here authorizes; callers decide and record first.
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { CatalogKey } from "../catalog/schema.ts";
import { BasilError, KEY_NOT_FOUND_MESSAGE } from "../core/errors.ts";
import { SecretBytes } from "../core/secret.ts";
import { signMessage } from "../crypto/signing.ts";
import type { BrokerDeps } from "./deps.ts";
import { infoOf, keyTypeOf, transitOf } from "./keys.ts";
import type { Generation } from "./state.ts";

/** The backend of a catalog key, or INTERNAL. */
export function backendOf(deps: BrokerDeps, key: CatalogKey, op: string): Backend {
  const b = deps.backends.get(key.backend);
  if (!b) throw new BasilError("INTERNAL", undefined, { op, detail: `no backend ${key.backend}` });
  return b;
}

/** Signs `message` with an asymmetric catalog key (the catalog's algorithm, latest version). */
export async function signWithKey(
  deps: BrokerDeps,
  gen: Generation,
  key: CatalogKey,
  message: Uint8Array,
  op: string,
): Promise<Uint8Array> {
  const backend = backendOf(deps, key, op);
  const kt = keyTypeOf(key, op);
  if (key.engine === "kv2") {
    const got = await backend.kv?.read(key.path);
    if (!got) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op });
    try {
      return signMessage(kt, got.value.expose(), message);
    } finally {
      got.value.wipe();
    }
  }
  const t = transitOf({ gen, subject: "", key, backend }, op);
  const info = await infoOf(t, key, op);
  return await t.sign(key.path, kt, message, info.latest);
}

/** The latest public half of an X25519 sealing key. */
export async function sealingPublic(
  deps: BrokerDeps,
  key: CatalogKey,
  op: string,
): Promise<Uint8Array> {
  const got = key.publicPath === undefined
    ? undefined
    : await backendOf(deps, key, op).kv?.read(key.publicPath);
  if (!got) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op });
  const out = got.value.expose().slice();
  got.value.wipe();
  return out;
}

/** The latest private half of an X25519 sealing key; the caller disposes it. */
export async function sealingPrivate(
  deps: BrokerDeps,
  key: CatalogKey,
  op: string,
): Promise<SecretBytes> {
  const got = await backendOf(deps, key, op).kv?.read(key.path).catch(() => undefined);
  if (!got) throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { op });
  if (got.value.length !== 32) {
    got.value.wipe();
    throw new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, {
      op,
      detail: "not a 32-byte X25519 key",
    });
  }
  return got.value;
}
