/**
 * Shared fixtures for the catalog loader tests: a valid catalog covering
 * every key class, and an assertion for `catalog_invalid` errors.
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import type { LoadedCatalog } from "../../../lib/catalog/load.ts";

/** A JSON object, loosely typed so tests can poke at any field. */
// deno-lint-ignore no-explicit-any
export type Json = any;

export const FILE = "/etc/basil/catalog.json";

/** A valid catalog with one key per class (and the materialized/pki forms). */
export function validCatalog(): Json {
  return {
    schemaVersion: 1,
    backends: {
      bao: {
        kind: "vault",
        addr: "https://127.0.0.1:8200",
        engines: ["transit", "kv2", "pki"],
        capabilities: ["byok-import", "prehash-sign"],
        mintKeyTypes: ["ed25519"],
        requires: ["jwt-auth"],
      },
      local: { kind: "keystore", addr: "/var/lib/basil/keystore.db" },
      aws: { kind: "aws-kms", addr: "" },
    },
    keys: {
      "app.signing_key": {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "bao",
        path: "app-signing",
        writable: true,
        missing: "generate",
        description: "release signing key",
      },
      "app.aead": {
        class: "symmetric",
        keyType: "aes-256-gcm",
        backend: "local",
        path: "app/aead",
        writable: false,
        description: "aead",
      },
      "app.db_password": {
        class: "value",
        backend: "bao",
        path: "secret/data/app/db",
        writable: true,
        missing: "generate",
        generate: { format: "ascii-printable", bytes: 24 },
        labels: ["team=payments", "tier1"],
        description: "db password",
      },
      "web.ca_cert": {
        class: "public",
        backend: "bao",
        path: "secret/data/web/ca",
        writable: false,
        missing: "warn",
        description: "public CA",
      },
      "enroll.sealing": {
        class: "sealing",
        keyType: "x25519",
        backend: "bao",
        path: "secret/data/enroll/x25519",
        publicPath: "secret/data/enroll/x25519-public",
        writable: true,
        sealingPin: { parties: { partyU: "client" }, externalAad: ["ctx"] },
        labels: ["broker_key_use=request-encryption"],
        description: "enrollment sealing key",
      },
      "app.kv_sign": {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "bao",
        engine: "kv2",
        path: "secret/data/app/seed",
        publicPath: "secret/data/app/seed-public",
        writable: true,
        description: "materialized ed25519",
      },
      "pki.web_leaf": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "bao",
        engine: "pki",
        path: "pki_int/issue/web",
        writable: true,
        description: "web leaf certificates",
      },
      "nats.operator": {
        class: "asymmetric",
        keyType: "ed25519-nkey",
        backend: "bao",
        path: "nats-operator",
        writable: true,
        labels: ["nats_type=O"],
        description: "NATS operator",
      },
    },
  };
}

/** A minimal valid key of `cls` on backend `bao`, for single-field mutations. */
export function keyOf(cls: string, extra: Json = {}): Json {
  const base: Json = {
    class: cls,
    backend: "bao",
    path: "p",
    writable: true,
    description: "d",
  };
  if (cls === "asymmetric") base.keyType = "ed25519";
  if (cls === "symmetric") base.keyType = "aes-256-gcm";
  if (cls === "sealing") {
    base.keyType = "x25519";
    base.publicPath = "pp";
  }
  return { ...base, ...extra };
}

/** A catalog holding only `keys` (backend `bao`). */
export function catalogWith(keys: Json): Json {
  return {
    schemaVersion: 1,
    backends: { bao: { kind: "vault", addr: "http://127.0.0.1:8200" } },
    keys,
  };
}

/** Loads a document (object or raw text). */
export function load(doc: Json): LoadedCatalog {
  return loadCatalog(typeof doc === "string" ? doc : JSON.stringify(doc), FILE);
}

/**
 * Asserts that loading fails with `catalog_invalid`, and that the message
 * names the file, contains `field` and matches `reason`.
 */
export function assertCatalogError(doc: Json, field: string, reason: RegExp): InputError {
  let caught: unknown;
  try {
    load(doc);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof InputError, `expected InputError, got ${String(caught)}`);
  assert.equal(caught.token, "catalog_invalid");
  assert.ok(caught.message.startsWith(`${FILE}: `), `no file name in: ${caught.message}`);
  assert.ok(caught.message.includes(field), `no field ${field} in: ${caught.message}`);
  assert.match(caught.message, reason);
  return caught;
}
