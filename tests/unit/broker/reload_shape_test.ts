/**
 * The routing-shape guard: what a reload may change (the policy, a key's
 * writable/labels/description/missing, a backend's mintKeyTypes) passes;
 * everything else in the catalog is named as a shape change.
 */

import assert from "node:assert/strict";
import { routingShapeChanges } from "../../../lib/broker/reload_shape.ts";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import type { Catalog } from "../../../lib/catalog/schema.ts";

type Doc = {
  schemaVersion: 1;
  backends: Record<string, Record<string, unknown>>;
  keys: Record<string, Record<string, unknown>>;
};

function base(): Doc {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "/tmp/db",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519"],
      },
    },
    keys: {
      "app.value": {
        class: "value",
        backend: "db",
        path: "app/value",
        writable: true,
        missing: "warn",
        description: "a value",
        labels: ["team=a"],
      },
      "app.signer": {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "db",
        path: "app/signer",
        writable: false,
        description: "a signer",
      },
    },
  };
}

function cat(doc: Doc): Catalog {
  return loadCatalog(JSON.stringify(doc), "catalog.json").catalog;
}

function changes(edit: (d: Doc) => void): string[] {
  const next = base();
  edit(next);
  return routingShapeChanges(cat(base()), cat(next));
}

Deno.test("reloadable fields are not shape changes", () => {
  assert.deepEqual(changes(() => {}), []);
  assert.deepEqual(
    changes((d) => {
      const v = d.keys["app.value"]!;
      v.writable = false;
      v.missing = "error";
      v.description = "changed";
      v.labels = ["team=b", "extra"];
      d.keys["app.signer"]!.labels = ["role=ci"];
      d.backends.db!.mintKeyTypes = ["ed25519", "ecdsa-p256"];
    }),
    [],
  );
  // Engines are a set: their order carries no meaning.
  assert.deepEqual(changes((d) => (d.backends.db!.engines = ["kv2", "transit"])), []);
});

Deno.test("key and backend set changes are named", () => {
  assert.deepEqual(
    changes((d) => {
      d.keys["app.new"] = { ...d.keys["app.value"]!, path: "app/new" };
    }),
    ['key "app.new" added'],
  );
  assert.deepEqual(changes((d) => delete d.keys["app.value"]), ['key "app.value" removed']);
  assert.deepEqual(
    changes((d) => {
      d.backends.other = { kind: "keystore", addr: "/tmp/other" };
    }),
    ['backend "other" added'],
  );
});

Deno.test("each routing field of a key or backend is a shape change", () => {
  const cases: [(d: Doc) => void, string][] = [
    [(d) => (d.keys["app.value"]!.path = "app/moved"), 'key "app.value": path changed'],
    [
      (d) => (d.keys["app.signer"]!.keyType = "ecdsa-p256"),
      'key "app.signer": keyType changed',
    ],
    [(d) => (d.keys["app.value"]!.engine = "transit"), 'key "app.value": engine changed'],
    [
      (d) => (d.keys["app.value"]!.generate = { format: "hex", bytes: 8 }),
      'key "app.value": generate changed',
    ],
    [(d) => (d.backends.db!.addr = "/tmp/elsewhere"), 'backend "db": addr changed'],
    [(d) => (d.backends.db!.engines = ["kv2"]), 'backend "db": engines changed'],
    [(d) => (d.backends.db!.requires = ["x"]), 'backend "db": requires changed'],
    [
      (d) => (d.backends.db!.capabilities = ["byok-import"]),
      'backend "db": capabilities changed',
    ],
  ];
  for (const [edit, want] of cases) assert.deepEqual(changes(edit), [want]);
  assert.deepEqual(
    changes((d) => {
      d.keys["app.value"]!.path = "p2";
      d.keys["app.value"]!.writable = false;
      d.keys["app.signer"]!.path = "p3";
    }),
    ['key "app.signer": path changed', 'key "app.value": path changed'],
  );
});
