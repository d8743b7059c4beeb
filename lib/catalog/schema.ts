/**
 * The validated, read-only catalog model (contract §2). A `Catalog` only ever
 * comes out of {@linkcode loadCatalog} in `load.ts`, so holding one means every
 * cross-field rule has been checked.
 * @module
 */

import type { BackendKind, Engine, KeyClass, KeyType } from "../core/ops.ts";

/** How reconcile treats a key that is absent from its backend. */
export type MissingPolicy = "error" | "warn" | "generate";

/** A value-generation recipe (contract §2.3 `generate`). */
export type GenerateRecipe =
  | { format: "ascii-printable"; bytes: number }
  | { format: "base64"; bytes: number }
  | { format: "hex"; bytes: number }
  | { format: "age-x25519" }
  | { format: "self-signed-tls"; commonName: string; validity?: string }
  | { format: "self-signed-tls-pair-of"; pairOf: string };

/** A declared backend. */
export interface CatalogBackend {
  readonly name: string;
  readonly kind: BackendKind;
  readonly addr: string;
  readonly engines: readonly Engine[];
  readonly capabilities: readonly string[];
  readonly mintKeyTypes: readonly KeyType[];
  readonly requires: readonly string[];
}

/** A sealing key's pin (contract §2.3 `sealingPin`). */
export interface SealingPin {
  readonly parties?: { readonly partyU?: string; readonly partyV?: string };
  readonly externalAad?: readonly string[];
}

/** A declared key. */
export interface CatalogKey {
  readonly name: string;
  readonly class: KeyClass;
  readonly keyType: KeyType | undefined;
  readonly backend: string;
  readonly engine: Engine;
  readonly path: string;
  readonly publicPath: string | undefined;
  readonly writable: boolean;
  readonly missing: MissingPolicy;
  readonly generate: GenerateRecipe | undefined;
  readonly sealingPin: SealingPin | undefined;
  /** Labels as written (`k=v` or bare slugs). */
  readonly labels: readonly string[];
  /** `k=v` labels as a map. */
  readonly labelMap: ReadonlyMap<string, string>;
  readonly description: string;
}

/** A validated catalog. */
export interface Catalog {
  readonly schemaVersion: 1;
  readonly backends: ReadonlyMap<string, CatalogBackend>;
  readonly keys: ReadonlyMap<string, CatalogKey>;
}

/**
 * Credential issuers never sign raw messages (contract §2.4): NATS operator and
 * account keys, and SVID issuers.
 */
export function isCredentialIssuer(key: CatalogKey): boolean {
  const nats = key.labelMap.get("nats_type");
  const svid = key.labelMap.get("svid_kind");
  return nats === "O" || nats === "A" || svid === "jwt" || svid === "x509";
}

/** Materialize-to-use keys: sealing, or asymmetric held in kv2. */
export function isMaterialized(key: CatalogKey): boolean {
  return key.class === "sealing" || (key.class === "asymmetric" && key.engine === "kv2");
}
