/**
 * What the agent's sandbox must allow for gcp-kms backends, derived from
 * the catalog and the launcher's environment (lib/sandbox/permissions.ts).
 * The bundle is only unlocked inside the agent, so the launcher cannot know
 * whether a sealed service-account key will be used; it grants what
 * Application Default Credentials need when they can be in play:
 * - net: each backend's endpoint, plus `oauth2.googleapis.com:443` for the
 *   token exchange unless every endpoint is a plaintext loopback one (which
 *   sends no tokens);
 * - env: the names the client libraries read ({@linkcode GCP_SDK_ENV}),
 *   and `GOOGLE_APPLICATION_CREDENTIALS` and `METADATA_SERVER_DETECTION`;
 * - read: the file `GOOGLE_APPLICATION_CREDENTIALS` names, when set.
 * Nothing at all without a gcp-kms backend, and no ADC variable or file
 * when every endpoint is a plaintext loopback one. The metadata server is not
 * reachable from the sandbox.
 * @module
 */

import type { Catalog } from "../../catalog/schema.ts";
import { endpointHostPort, OAUTH2_HOST, parseEndpoint } from "./endpoint.ts";

/** Reads one environment variable of the launcher. */
export type GcpEnvReader = (name: string) => string | undefined;

/**
 * The variables grpc-js, google-gax and the auth library read as they load
 * and call (Deno throws on an unlisted read inside the sandbox). Values are
 * forwarded only when the launcher itself may read them (deno.json `basil`
 * task), so most stay unset in the agent.
 */
export const GCP_SDK_ENV: readonly string[] = [
  "GRPC_TRACE",
  "GRPC_VERBOSITY",
  "GRPC_NODE_TRACE",
  "GRPC_NODE_VERBOSITY",
  "GRPC_SSL_CIPHER_SUITES",
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "GRPC_NODE_USE_ALTERNATIVE_RESOLVER",
  "GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
  "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS",
  "grpc_proxy",
  "http_proxy",
  "https_proxy",
  "no_grpc_proxy",
  "no_proxy",
  "GOOGLE_SDK_NODE_LOGGING",
  "GOOGLE_CLOUD_UNIVERSE_DOMAIN",
  "GOOGLE_SDK_NODE_ENABLE_TRACING",
  "GOOGLE_API_USE_CLIENT_CERTIFICATE",
  "GOOGLE_API_USE_MTLS_ENDPOINT",
  "READABLE_STREAM",
  "DEBUG",
];

/** The variables ADC reads that the launcher forwards. */
export const GCP_ADC_ENV: readonly string[] = [
  "GOOGLE_APPLICATION_CREDENTIALS",
  "METADATA_SERVER_DETECTION",
];

/** The grants for every gcp-kms backend of `catalog`. */
export function gcpAccess(
  catalog: Catalog,
  env: GcpEnvReader,
): { read: string[]; net: string[]; env: string[] } {
  const net = new Set<string>();
  let authenticated = false;
  for (const b of catalog.backends.values()) {
    if (b.kind !== "gcp-kms") continue;
    try {
      const e = parseEndpoint(b.addr);
      net.add(endpointHostPort(e));
      if (!e.insecure) authenticated = true;
    } catch {
      // an unusable addr: the agent refuses it at start with a clear error
    }
  }
  if (net.size === 0) return { read: [], net: [], env: [] };
  if (!authenticated) return { read: [], net: [...net].sort(), env: [...GCP_SDK_ENV] };
  net.add(`${OAUTH2_HOST}:443`);
  const file = env("GOOGLE_APPLICATION_CREDENTIALS");
  return {
    read: file !== undefined && file.startsWith("/") ? [file] : [],
    net: [...net].sort(),
    env: [...GCP_SDK_ENV, ...GCP_ADC_ENV],
  };
}
