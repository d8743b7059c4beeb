/**
 * Shared fixtures for the policy tests: a policy/catalog builder that goes
 * through the real loaders, and an assertion for `policy_invalid` errors.
 */

import assert from "node:assert/strict";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import type { Catalog } from "../../../lib/catalog/schema.ts";
import { InputError } from "../../../lib/core/errors.ts";
import { parseUnixNames } from "../../../lib/core/unix_names.ts";
import type { UnixNames } from "../../../lib/core/unix_names.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import type { Policy } from "../../../lib/policy/schema.ts";

// deno-lint-ignore no-explicit-any
export type Json = any;

export const FILE = "/etc/basil/policy.json";

/** passwd/group fixture: alice(1000, primary 1000), bob(1001, primary 100), carol(1002). */
export const PASSWD = [
  "root:x:0:0:root:/root:/bin/bash",
  "# a comment line",
  "alice:x:1000:1000::/home/alice:/bin/sh",
  "bob:x:1001:100::/home/bob:/bin/sh",
  "carol:x:1002:1002::/home/carol:/bin/sh",
  "app:x:990:990::/var/empty:/usr/sbin/nologin",
  "broken-line",
  "",
].join("\n");
export const GROUP = [
  "root:x:0:",
  "users:x:100:alice",
  "alice:x:1000:",
  "basil:x:995:carol,ghost,app",
  "wheel:x:10:alice,carol",
  "app:x:990:",
].join("\n");

export function names(): UnixNames {
  return parseUnixNames(PASSWD, GROUP);
}

/** Loads a policy document (object or raw text); `null` = no user database. */
export function policy(doc: Json, withNames: UnixNames | null = names()): Policy {
  return loadPolicy(typeof doc === "string" ? doc : JSON.stringify(doc), FILE, {
    names: withNames ?? undefined,
  });
}

/** Asserts that loading fails with `policy_invalid`, naming the file and `field`. */
export function assertPolicyError(
  doc: Json,
  field: string,
  reason: RegExp,
  withNames: UnixNames | null = names(),
): InputError {
  let caught: unknown;
  try {
    policy(doc, withNames);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof InputError, `expected InputError, got ${String(caught)}`);
  assert.equal(caught.token, "policy_invalid");
  assert.ok(caught.message.startsWith(`${FILE}: `), `no file name in: ${caught.message}`);
  assert.ok(caught.message.includes(field), `no field ${field} in: ${caught.message}`);
  assert.match(caught.message, reason);
  return caught;
}

/** A unix subject matching `uid` (and optionally `gid`). */
export function unix(uid?: number, gid?: number): Json {
  const p: Json = { kind: "unix" };
  if (uid !== undefined) p.uid = uid;
  if (gid !== undefined) p.gid = gid;
  return { allOf: [p] };
}

/** Builds a catalog through the real loader from a compact key list. */
export function catalog(
  keys: Record<string, { class?: string; writable?: boolean; labels?: string[] }>,
): Catalog {
  const out: Json = {};
  for (const [name, k] of Object.entries(keys)) {
    const cls = k.class ?? "value";
    const key: Json = {
      class: cls,
      backend: "b",
      path: `p/${name}`,
      writable: k.writable ?? true,
      description: name,
    };
    if (cls === "asymmetric") key.keyType = "rsa-2048";
    if (cls === "symmetric") key.keyType = "aes-256-gcm";
    if (cls === "sealing") {
      key.keyType = "x25519";
      key.publicPath = `pp/${name}`;
    }
    if (k.labels) key.labels = k.labels;
    out[name] = key;
  }
  return loadCatalog(
    JSON.stringify({
      schemaVersion: 1,
      backends: { b: { kind: "vault", addr: "http://127.0.0.1:8200" } },
      keys: out,
    }),
    "catalog.json",
  ).catalog;
}
