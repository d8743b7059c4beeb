/**
 * basil.broker.v1.MintingService: MintJwt and IssueCertificate.
 * @module
 */

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { BrokerDeps } from "../broker/deps.ts";
import { issueCertificate, mintJwt } from "../broker/minting.ts";
import { MintingService } from "../wire/basil/broker/v1/broker_pb.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";
import { durationSecs, requireField } from "./wire_args.ts";

/** The MintingService binding. */
export function mintingService(deps: BrokerDeps): ServiceBinding {
  return bindBrokerService(deps, MintingService, {
    async mintJwt(req, ctx) {
      const m = await mintJwt(
        deps,
        ctx.call,
        requireField(req.keyId, "key_id", "mint"),
        req.subject,
        durationSecs(req.ttl, "ttl", "mint"),
        req.extraClaimsJson,
      );
      return { token: m.token, expiresAt: timestampFromDate(m.expiresAt) };
    },
    async issueCertificate(req, ctx) {
      const leaf = await issueCertificate(
        deps,
        ctx.call,
        requireField(req.issuerKeyId, "issuer_key_id", "issue_certificate"),
        req.commonName,
        req.dnsSans,
        req.ipSans,
        durationSecs(req.ttl, "ttl", "issue_certificate"),
      );
      ctx.defer(() => leaf.privateKeyDer.wipe());
      return {
        certChainDer: [...leaf.chainDer],
        privateKeyDer: leaf.privateKeyDer.expose(),
        caChainDer: [...leaf.caChainDer],
      };
    },
  });
}
