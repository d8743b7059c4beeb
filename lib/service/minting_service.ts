/**
 * basil.broker.v1.MintingService: MintJwt (IssueCertificate arrives with the
 * SPIFFE work).
 * @module
 */

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BasilError } from "../core/errors.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { mintJwt } from "../broker/minting.ts";
import { MintingService } from "../wire/basil/broker/v1/broker_pb.ts";
import { bindService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";
import { durationSecs, requireField } from "./wire_args.ts";

/** The MintingService binding. */
export function mintingService(deps: BrokerDeps): ServiceBinding {
  return bindService(MintingService, {
    async mintJwt(req, ctx) {
      const m = await mintJwt(
        deps,
        ctx.peer,
        requireField(req.keyId, "key_id", "mint"),
        req.subject,
        durationSecs(req.ttl, "ttl", "mint"),
        req.extraClaimsJson,
      );
      return { token: m.token, expiresAt: timestampFromDate(m.expiresAt) };
    },
    issueCertificate() {
      return Promise.reject(
        new BasilError("UNSUPPORTED", "IssueCertificate is not available in this build yet", {
          op: "issue_certificate",
        }),
      );
    },
  });
}
