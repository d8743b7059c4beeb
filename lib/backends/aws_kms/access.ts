/**
 * What an aws-kms backend needs from the agent's sandbox, derived before the
 * bundle is opened (so from the catalog and the launcher's environment only),
 * and where its requests go. Pure: no SDK import, so the launcher stays light.
 *
 * - Catalog `addr`: `aws-kms:<region>[,endpoint=<http(s) URL>]`; any other
 *   text is a label (seed 004), and the region then comes from the bundle or
 *   the environment.
 * - Endpoint: the catalog `endpoint=`, else `AWS_ENDPOINT_URL_KMS`, else
 *   `AWS_ENDPOINT_URL`, else `https://kms.<region>.amazonaws.com`.
 * - Credentials: the SDK's default chain. The sandbox lets the agent read the
 *   variables that chain reads ({@linkcode AWS_SDK_ENV}; the launcher forwards
 *   those it may read itself), the shared config and credentials files and
 *   the web-identity token file; it may connect to the KMS endpoint, to STS
 *   only when a web-identity token is configured, and to the EC2 instance
 *   metadata service only when no static or web-identity credential is.
 * @module
 */

/** What a catalog `addr` says. */
export interface AwsKmsAddr {
  readonly region?: string;
  readonly endpoint?: string;
}

const ADDR = /^aws-kms:([a-z0-9-]*)(?:,endpoint=(\S+))?$/;
const REGION = /^[a-z]{2,}(?:-[a-z0-9]+)+$/;

/** Parses a catalog `addr`; a label that is not `aws-kms:…` says nothing. */
export function parseAwsKmsAddr(addr: string): AwsKmsAddr {
  const m = ADDR.exec(addr.trim());
  if (!m) return {};
  return {
    ...(m[1] ? { region: m[1] } : {}),
    ...(m[2] ? { endpoint: m[2] } : {}),
  };
}

/** Whether `region` looks like an AWS region name. */
export function isRegionName(region: string): boolean {
  return REGION.test(region);
}

/** Reads one environment variable (undefined when unset or not readable). */
export type EnvReader = (name: string) => string | undefined;

/** Reads the environment; a variable outside this process's `--allow-env` counts as unset. */
export function processEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The region and endpoint a backend uses; the bundle region wins over the others. */
export function kmsTarget(
  addr: AwsKmsAddr,
  bundleRegion: string | undefined,
  env: EnvReader,
): { region: string | undefined; endpoint: string | undefined } {
  const region = bundleRegion ?? addr.region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION");
  const endpoint = addr.endpoint ?? env("AWS_ENDPOINT_URL_KMS") ?? env("AWS_ENDPOINT_URL") ??
    (region === undefined ? undefined : `https://kms.${region}.amazonaws.com`);
  return { region, endpoint };
}

/** `host:port` of an http(s) URL, or undefined when it is not one. */
export function hostPort(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    return `${u.hostname}:${u.port === "" ? (u.protocol === "https:" ? "443" : "80") : u.port}`;
  } catch {
    return undefined;
  }
}

/** The EC2 instance metadata service (IMDSv2, IPv4), the chain's last resort. */
export const IMDS_HOST = "169.254.169.254:80";

/**
 * Every variable the AWS SDK's client and default credential chain read
 * (Deno refuses a read outside `--allow-env`, so all must be allowed; most
 * are normally unset and then not forwarded).
 */
export const AWS_SDK_ENV: readonly string[] = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_CREDENTIAL_EXPIRATION",
  "AWS_CREDENTIAL_SCOPE",
  "AWS_ACCOUNT_ID",
  "AWS_ACCOUNT_ID_ENDPOINT_MODE",
  "AWS_PROFILE",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  "AWS_ROLE_SESSION_NAME",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_KMS",
  "AWS_ENDPOINT_URL_STS",
  "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
  "AWS_USE_FIPS_ENDPOINT",
  "AWS_USE_DUALSTACK_ENDPOINT",
  "AWS_STS_REGIONAL_ENDPOINTS",
  "AWS_EC2_METADATA_DISABLED",
  "AWS_EC2_METADATA_V1_DISABLED",
  "AWS_EC2_METADATA_SERVICE_ENDPOINT",
  "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_MAX_ATTEMPTS",
  "AWS_RETRY_MODE",
  "AWS_DEFAULTS_MODE",
  "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_NAME",
  "AWS_SDK_UA_APP_ID",
  "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED",
  "AWS_AUTH_SCHEME_PREFERENCE",
  "AWS_SIGV4A_SIGNING_REGION_SET",
  "AWS_DISABLE_CLOCK_SKEW_CORRECTION",
  "AWS_ENABLE_DEFAULT_SOCKET_TIMEOUT_2026",
  "AWS_BEARER_TOKEN_KMS",
  "AWS_LOGIN_CACHE_DIRECTORY",
  "_X_AMZN_TRACE_ID",
  "AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA",
  "AWS_LAMBDA_BENCHMARK_MODE",
  "HOME",
  "USERPROFILE",
  "HOMEPATH",
  "HOMEDRIVE",
  "AWS_LAMBDA_MAX_CONCURRENCY",
];

/**
 * The variables the launcher forwards to the agent (it can only forward what
 * its own `--allow-env` in deno.json lets it read): the credential, profile,
 * region, file and endpoint variables of the chain, and HOME (where
 * `~/.aws` is). Deliberately not the IMDS/ECS endpoint overrides: the agent
 * may only reach the fixed metadata address.
 */
export const AWS_FORWARDED_ENV: readonly string[] = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  "AWS_ROLE_SESSION_NAME",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_KMS",
  "AWS_EC2_METADATA_DISABLED",
  "HOME",
];

/** The files the chain reads: shared config and credentials, and the web-identity token. */
export function awsFiles(env: EnvReader): string[] {
  const home = env("HOME");
  const config = env("AWS_CONFIG_FILE") ?? (home ? `${home}/.aws/config` : undefined);
  const creds = env("AWS_SHARED_CREDENTIALS_FILE") ??
    (home ? `${home}/.aws/credentials` : undefined);
  return [config, creds, env("AWS_WEB_IDENTITY_TOKEN_FILE")].filter((x): x is string =>
    x !== undefined && x.startsWith("/")
  );
}

/**
 * The hosts one aws-kms backend may reach: its KMS endpoint; regional STS
 * when a web-identity token file is set; IMDS when neither static keys nor a
 * web identity are in the environment and IMDS is not disabled. (A profile's
 * own credentials are read from the shared files and need no host.)
 */
export function awsNetHosts(addr: AwsKmsAddr, env: EnvReader): string[] {
  const { region, endpoint } = kmsTarget(addr, undefined, env);
  const hosts: string[] = [];
  const kms = endpoint === undefined ? undefined : hostPort(endpoint);
  if (kms !== undefined) hosts.push(kms);
  const webIdentity = env("AWS_WEB_IDENTITY_TOKEN_FILE") !== undefined;
  if (webIdentity && region !== undefined) {
    hosts.push(`sts.${region}.amazonaws.com:443`);
  }
  const staticKeys = env("AWS_ACCESS_KEY_ID") !== undefined;
  if (!staticKeys && !webIdentity && env("AWS_EC2_METADATA_DISABLED") !== "true") {
    hosts.push(IMDS_HOST);
  }
  return hosts;
}
