/**
 * The AWS KMS backend (catalog kind `aws-kms`, engine transit; seed 004):
 * keys live and are used inside KMS, never exported.
 *
 * Invariants:
 * - Credentials come from the AWS SDK's default chain (environment, shared
 *   profile, web identity, container and instance metadata); the bundle
 *   credential holds only a region and a profile name.
 * - The endpoint is resolved once (access.ts) and must be a host the agent's
 *   sandbox lets it reach, else the start fails naming what to fix.
 * - Failures reach the caller as BACKEND_UNAVAILABLE / BACKEND_ERROR /
 *   DECRYPT_FAILED with the AWS detail only in logs (errors.ts).
 * - The existence probe is one DescribeKey: NotFound is "absent", any other
 *   failure rejects (never read as absent).
 * @module
 */

import { KMSClient, type KMSClientConfig } from "@aws-sdk/client-kms";
import type { Backend } from "../backend.ts";
import type { CatalogKey } from "../../catalog/schema.ts";
import { InputError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { AwsKmsCred } from "../../seal/creds.ts";
import {
  type EnvReader,
  hostPort,
  isRegionName,
  kmsTarget,
  parseAwsKmsAddr,
  processEnv,
} from "./access.ts";
import { createKmsTransit } from "./transit.ts";

export { AWS_KMS_KEY_TYPES } from "./types.ts";

/** Options for {@linkcode openAwsKmsBackend}. */
export interface AwsKmsBackendOptions {
  /** The catalog backend name (= bundle credential id). */
  readonly name: string;
  /** The catalog `addr` (`aws-kms:<region>[,endpoint=<url>]` or a label). */
  readonly addr: string;
  readonly cred: AwsKmsCred;
  readonly logger: Logger;
  /** Reads the environment (default: `Deno.env.get`, unreadable = unset). */
  readonly env?: EnvReader;
  /** Per-attempt request timeout. */
  readonly timeoutMs?: number;
  /** ECDSA message mode (see transit.ts `KmsTransitOptions`); the agent never sets it. */
  readonly ecdsaMessageType?: "DIGEST" | "RAW";
  /** Extra client settings (tests: a middleware to record calls). */
  readonly configure?: (client: KMSClient) => void;
}

/** Builds the backend; an `InputError` names what is wrong with the settings. */
export function openAwsKmsBackend(o: AwsKmsBackendOptions): Backend {
  const env = o.env ?? processEnv;
  const bad = (what: string) =>
    new InputError("backend_addr_invalid", `backend ${o.name}: ${what}`);
  const addr = parseAwsKmsAddr(o.addr);
  const { region, endpoint } = kmsTarget(addr, o.cred.region, env);
  if (region === undefined) {
    throw bad("no AWS region: set region= in the bundle credential or aws-kms:<region> as addr");
  }
  if (!isRegionName(region)) throw bad(`"${region}" is not an AWS region name`);
  const host = endpoint === undefined ? undefined : hostPort(endpoint);
  if (host === undefined) throw bad(`the KMS endpoint ${endpoint ?? ""} is not an http(s) URL`);
  const [hostname, port] = splitHostPort(host);
  if (
    Deno.permissions.querySync({ name: "net", host: `${hostname}:${port}` }).state !== "granted"
  ) {
    throw bad(
      `the sandbox does not let the agent reach ${host} (region ${region}); ` +
        `name the region and endpoint in the catalog addr (aws-kms:<region>[,endpoint=<url>])`,
    );
  }
  const config: KMSClientConfig = {
    region,
    endpoint,
    ...(o.cred.profile === undefined ? {} : { profile: o.cred.profile }),
    maxAttempts: 3,
    // The SDK's default user agent reads os.release() (a sys permission the
    // agent does not hold) and says more about the host than KMS needs.
    defaultUserAgentProvider: () => Promise.resolve([["basil-aws-kms"]]),
    requestHandler: { requestTimeout: o.timeoutMs ?? 10_000, connectionTimeout: 5_000 },
  };
  const client = new KMSClient(config);
  o.configure?.(client);
  const transit = createKmsTransit(client, o.logger, {
    ...(o.ecdsaMessageType === undefined ? {} : { ecdsaMessageType: o.ecdsaMessageType }),
  });
  let closed = false;
  return {
    name: o.name,
    kind: "aws-kms",
    statusName: "aws-kms",
    transit,
    async exists(key: CatalogKey): Promise<boolean> {
      if (key.engine !== "transit") return false;
      return (await transit.info(key.path)) !== undefined;
    },
    close(): void {
      if (closed) return;
      closed = true;
      client.destroy();
    },
  };
}

function splitHostPort(host: string): [string, string] {
  const i = host.lastIndexOf(":");
  return [host.slice(0, i), host.slice(i + 1)];
}
