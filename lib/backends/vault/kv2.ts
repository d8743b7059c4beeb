/**
 * KV version 2 (contract §10): values at catalog paths that include the
 * mount and `data/` (`secret/data/app/db-password`). A value is stored as
 * `{"data":{"value":"<base64>"}}`; reads return `data.data.value` and
 * `data.metadata.version`.
 *
 * Invariants: values travel as bytes both ways (request bodies are built as
 * bytes and wiped, responses parsed as bytes and wiped); a 404 (never
 * written, deleted, destroyed or pruned version) is "absent"; a secret
 * without a `value` field or with a non-base64 one is BACKEND_ERROR.
 * @module
 */

import type { KvStore, KvVersion } from "../backend.ts";
import { SecretBytes } from "../../core/secret.ts";
import { wipeJson } from "../../seal/json_bytes.ts";
import { JsonWriter } from "../../seal/json_writer.ts";
import type { VaultAuth } from "./auth.ts";
import { base64Ascii, decodeBase64 } from "../../core/encoding.ts";
import { statusError } from "./errors.ts";
import { encodePath } from "./http.ts";
import { malformed, member, obj, textBytes, uint } from "./json.ts";

/** Creates the KV v2 store of one vault backend. */
export function createVaultKv(auth: VaultAuth): KvStore {
  async function read(path: string, version?: number): Promise<KvVersion | undefined> {
    const reply = await auth.send({
      method: "GET",
      path: encodePath(path),
      ...(version === undefined ? {} : { query: { version: String(version) } }),
    });
    try {
      if (reply.status === 404) return undefined;
      if (reply.status !== 200) throw statusError(`kv read ${path}`, reply.status, reply.errors);
      const data = obj(member(reply.json, "data"), "data");
      const v = uint(
        member(obj(member(data, "metadata"), "data.metadata"), "version"),
        "data.metadata.version",
      );
      const inner = obj(member(data, "data"), "data.data");
      const value = decodeBase64(textBytes(member(inner, "value"), "data.data.value"));
      if (value === undefined) malformed("data.data.value", "base64");
      return { value: new SecretBytes(value), version: v };
    } finally {
      if (reply.json !== undefined) wipeJson(reply.json);
    }
  }

  return {
    read,
    async write(path: string, value: Uint8Array): Promise<number> {
      const body = JsonWriter.build((w) => {
        w.raw('{"data":{"value":');
        const b64 = base64Ascii(value);
        try {
          w.text(b64);
        } finally {
          b64.fill(0);
        }
        w.raw("}}");
      });
      let reply;
      try {
        reply = await auth.send({ method: "POST", path: encodePath(path), body });
      } finally {
        body.fill(0);
      }
      try {
        if (reply.status !== 200) throw statusError(`kv write ${path}`, reply.status, reply.errors);
        return uint(member(obj(member(reply.json, "data"), "data"), "version"), "data.version");
      } finally {
        if (reply.json !== undefined) wipeJson(reply.json);
      }
    },
    async latestVersion(path: string): Promise<number | undefined> {
      const got = await read(path);
      got?.value.wipe();
      return got?.version;
    },
  };
}
