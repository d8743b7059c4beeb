/**
 * Where a gcp-kms backend connects (catalog backend `addr`), without
 * loading the Cloud KMS client (the sandbox launcher uses this too):
 * - empty: `cloudkms.googleapis.com:443` over TLS;
 * - `https://host[:port]`: a private or regional endpoint over TLS;
 * - `http://host:port` on a loopback host only: plaintext and no
 *   authentication (test doubles, local emulators).
 * @module
 */

/** A parsed endpoint. */
export interface GcpEndpoint {
  /** Host name; undefined for the default endpoint. */
  readonly host: string | undefined;
  readonly port: number;
  /** Plaintext, unauthenticated (loopback only). */
  readonly insecure: boolean;
}

/** The default Cloud KMS host. */
export const DEFAULT_KMS_HOST = "cloudkms.googleapis.com";

/** The OAuth 2.0 token host the auth library exchanges credentials at. */
export const OAUTH2_HOST = "oauth2.googleapis.com";

/** Whether `host` is a loopback address or `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Parses a catalog `addr`; throws `Error` saying what is wrong. */
export function parseEndpoint(addr: string): GcpEndpoint {
  const a = addr.trim();
  if (a === "") return { host: undefined, port: 443, insecure: false };
  let u: URL;
  try {
    u = new URL(a);
  } catch {
    throw new Error("must be empty, https://host[:port] or http://127.0.0.1:port");
  }
  if ((u.pathname !== "/" && u.pathname !== "") || u.search !== "" || u.hash !== "") {
    throw new Error("must be only scheme, host and port");
  }
  if (u.username !== "" || u.password !== "") throw new Error("must not carry user info");
  if (u.protocol === "https:") {
    return { host: u.hostname, port: u.port === "" ? 443 : Number(u.port), insecure: false };
  }
  if (u.protocol === "http:") {
    if (!isLoopback(u.hostname)) {
      throw new Error("may use plaintext http only on a loopback host (tests, local emulators)");
    }
    if (u.port === "") throw new Error("needs an explicit port with http");
    return { host: u.hostname, port: Number(u.port), insecure: true };
  }
  throw new Error("must use https (or http on a loopback host)");
}

/** `host:port` the agent connects to (for the sandbox's net grant). */
export function endpointHostPort(e: GcpEndpoint): string {
  return `${e.host ?? DEFAULT_KMS_HOST}:${e.port}`;
}
