/**
 * basil.broker.v1.InvocationService: Invoke carries one sealed, signed
 * request (opaque COSE bytes) and returns the sealed response plus the
 * response subject the request named. All checks live in
 * lib/broker/invoke.ts.
 * @module
 */

import type { BrokerDeps } from "../broker/deps.ts";
import { invoke, type Invoker } from "../broker/invoke.ts";
import { InvocationService } from "../wire/basil/broker/v1/broker_pb.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

/** The InvocationService binding; without an `Invoker` every call is INVOCATION_DISABLED. */
export function invocationService(deps: BrokerDeps, invoker: Invoker | undefined): ServiceBinding {
  return bindBrokerService(deps, InvocationService, {
    async invoke(req, ctx) {
      const r = await invoke(deps, ctx.call, invoker, req.message);
      return {
        message: r.message,
        ...(r.responseSubject === undefined ? {} : { responseSubject: r.responseSubject }),
      };
    },
  });
}
