/**
 * basil.broker.v1.SecretService: wire ↔ broker for Tier 1 values. Secret
 * bytes are wiped once the response is serialized.
 * @module
 */

import { invalidRequest } from "../core/errors.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { getSecret, listCatalog, rotateSecret, setSecret } from "../broker/secrets.ts";
import type { EntryKind } from "../broker/secrets.ts";
import { CatalogKind, SecretService } from "../wire/basil/broker/v1/broker_pb.ts";
import { keyTypeToWire } from "./enums.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

const KIND: Record<EntryKind, CatalogKind> = {
  signing: CatalogKind.SIGNING,
  value: CatalogKind.VALUE,
  encryption: CatalogKind.ENCRYPTION,
};

function requireId(id: string, op: string): string {
  if (id === "") throw invalidRequest("secret_id is required", op);
  return id;
}

/** The SecretService binding. */
export function secretService(deps: BrokerDeps): ServiceBinding {
  return bindBrokerService(deps, SecretService, {
    async getSecret(req, ctx) {
      const got = await getSecret(deps, ctx.call, requireId(req.secretId, "get"), req.version);
      ctx.defer(() => got.value.wipe());
      return { value: got.value.expose(), version: got.version };
    },
    async setSecret(req, ctx) {
      try {
        const version = await setSecret(deps, ctx.call, requireId(req.secretId, "set"), req.value);
        return { version };
      } finally {
        req.value.fill(0);
      }
    },
    async rotateSecret(req, ctx) {
      return { version: await rotateSecret(deps, ctx.call, requireId(req.secretId, "rotate")) };
    },
    async listCatalog(req, ctx, send) {
      const entries = await listCatalog(deps, ctx.call, req.prefix ?? "");
      for (const e of entries) {
        await send({
          name: e.name,
          kind: KIND[e.kind],
          keyType: e.keyType === undefined ? undefined : keyTypeToWire(e.keyType),
          latestVersion: e.latestVersion,
        });
      }
    },
  });
}
