/**
 * Envoy's SecretDiscoveryService on the broker socket (contract §4.6):
 * `FetchSecrets` answers once; `StreamSecrets` is bidirectional, answers
 * the first request, follows the client's ACKs, NACKs and changes of
 * resources, and (beyond upstream, which holds the stream silently) pushes
 * the requested secrets again whenever they change (sds_stream.ts). Plain
 * gRPC statuses, no BrokerErrorInfo. `DeltaSecrets` is not served
 * (UNIMPLEMENTED).
 * @module
 */

import type { BrokerDeps } from "../broker/deps.ts";
import { authorizeSds } from "../spiffe/sds.ts";
import { buildSdsResponse, SvidSet } from "../spiffe/sds_svids.ts";
import type { WorkloadApi } from "../spiffe/workload.ts";
import { SecretDiscoveryService } from "../wire/envoy/service/secret/v3/sds_pb.ts";
import { serveSdsStream } from "./sds_stream.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

/** The SecretDiscoveryService binding. */
export function sdsService(deps: BrokerDeps, api: WorkloadApi): ServiceBinding {
  return bindBrokerService(deps, SecretDiscoveryService, {
    async fetchSecrets(req, ctx) {
      const grant = authorizeSds(deps, ctx.call, req.typeUrl, req.resourceNames);
      const svids = await SvidSet.open(api, grant.resources, () => {});
      try {
        const res = await buildSdsResponse(api, grant.resources, svids, 1, grant.gen);
        ctx.defer(() => res.wipe());
        return res.message;
      } finally {
        svids.close();
      }
    },
    streamSecrets: (first, ctx, send, requests) =>
      serveSdsStream(deps, api, first, ctx, send, requests),
  }, { plainErrors: true });
}
