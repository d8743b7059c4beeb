/**
 * What the SPIFFE suite calls (bench/spiffe.ts): a catalog with one X.509
 * SVID issuer (an ECDSA P-256 CA on the keystore pki engine) and one JWT-SVID
 * issuer (ECDSA P-256, ES256, on transit) in trust domain `example.org`, as
 * tests/e2e/spiffe_test.ts; a policy; the request bytes; and the in-process
 * broker with the Workload API for "C".
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import type { PeerIdentity } from "../lib/policy/pdp.ts";
import { issuersOf } from "../lib/spiffe/issuers.ts";
import type { Issuer } from "../lib/spiffe/issuers.ts";
import { RevocationList } from "../lib/spiffe/revocation.ts";
import { WorkloadApi } from "../lib/spiffe/workload.ts";
import { spiffeService } from "../lib/service/spiffe_service.ts";
import type { BrokerDeps } from "../lib/broker/deps.ts";
import type { KeystoreBackend } from "../lib/backends/keystore/mod.ts";
import {
  RotateSecretRequestSchema,
  RotateSecretResponseSchema,
} from "../lib/wire/basil/broker/v1/broker_pb.ts";
import { JWTSVIDRequestSchema, X509SVIDRequestSchema } from "../lib/wire/spiffe/workload_pb.ts";
import type { Adapter } from "./setup.ts";
import { buildCore } from "./setup.ts";

export const TRUST_DOMAIN = "example.org";
export const X509_CA = "spiffe.x509_ca";
export const X509_CA_PATH = "pki/issue/spiffe";
export const JWT_ISSUER = "spiffe.jwt_issuer";
export const JWT_ISSUER_PATH = "spiffe/jwt";
export const JWT_AUDIENCE = "db";

export const FETCH_JWT_PATH = "/SpiffeWorkloadAPI/FetchJWTSVID";
export const FETCH_X509_PATH = "/SpiffeWorkloadAPI/FetchX509SVID";
export const ROTATE_PATH = "/basil.broker.v1.SecretService/RotateSecret";
/** The header every Workload API call must carry (sent to the echo floor too). */
export const SPIFFE_HEADER = { "workload.spiffe.io": ["true"] } as const;
/** bench/client.ts arguments adding that header. */
export const SPIFFE_MD_ARGS: readonly string[] = ["--md", "workload.spiffe.io=true"];

/** Catalog JSON: the two issuers on the embedded keystore at `db`. */
export function spiffeCatalog(db: string): unknown {
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: db,
        engines: ["transit", "kv2", "pki"],
        mintKeyTypes: ["ecdsa-p256"],
      },
    },
    keys: {
      [X509_CA]: {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "db",
        engine: "pki",
        path: X509_CA_PATH,
        writable: true,
        missing: "generate",
        labels: ["svid_kind=x509", `trust_domain=${TRUST_DOMAIN}`],
        description: "X.509-SVID CA (benchmark)",
      },
      [JWT_ISSUER]: {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "db",
        path: JWT_ISSUER_PATH,
        writable: true,
        missing: "generate",
        labels: [
          "svid_kind=jwt",
          `trust_domain=${TRUST_DOMAIN}`,
          `spiffe_id=spiffe://${TRUST_DOMAIN}`,
        ],
        description: "JWT-SVID issuer (benchmark)",
      },
    },
  };
}

/**
 * Policy JSON: `uid` (the bench driver) may mint both SVID kinds and rotate
 * the X.509 CA; the members of group `gid` (the per-sample client uids of
 * the "new identity" measurement, `members`; group membership comes from
 * the policy's `config.memberships`, never from the kernel gid) may mint.
 */
export function spiffePolicy(uid: number, gid: number, members: readonly number[] = []): unknown {
  return {
    schemaVersion: 2,
    subjects: {
      app: { anyOf: [{ kind: "unix", uid }] },
      workloads: { anyOf: [{ kind: "unix", gid }] },
    },
    rules: [
      { id: "svids", subjects: ["app", "workloads"], action: ["op:mint"], target: ["spiffe.*"] },
      { id: "rotate-ca", subjects: ["app"], action: ["op:rotate"], target: [X509_CA] },
    ],
    config: { memberships: Object.fromEntries(members.map((u) => [String(u), [gid]])) },
  };
}

/** FetchJWTSVID request: one audience, no requested SPIFFE ID. */
export function jwtRequest(): Uint8Array {
  return toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: [JWT_AUDIENCE] }));
}

/** FetchX509SVID request (empty message: 0 bytes). */
export function x509Request(): Uint8Array {
  return toBinary(X509SVIDRequestSchema, create(X509SVIDRequestSchema, {}));
}

/** RotateSecret of the X.509 CA (the call `basil rotate --key-id spiffe.x509_ca` sends). */
export function rotateRequest(): Uint8Array {
  return toBinary(
    RotateSecretRequestSchema,
    create(RotateSecretRequestSchema, { secretId: X509_CA }),
  );
}

/** The RotateSecret response size for a new version below 128. */
export function rotateResponseBytes(): number {
  return toBinary(RotateSecretResponseSchema, create(RotateSecretResponseSchema, { version: 2 }))
    .length;
}

/** The broker with the Workload API, in process. */
export interface InProcessSpiffe {
  readonly deps: BrokerDeps;
  readonly backend: KeystoreBackend;
  readonly peer: PeerIdentity;
  readonly api: WorkloadApi;
  readonly x509: Issuer;
  readonly jwt: Issuer;
  /** The FetchJWTSVID method of the transport minus HTTP/2 (header set). */
  readonly fetchJwt: Adapter;
  close(): void;
}

/** Builds catalog, policy and keystore in `dir`, creates both issuers as reconcile would. */
export async function inProcessSpiffe(dir: string, svidTtlSecs = 300): Promise<InProcessSpiffe> {
  const core = buildCore(dir, spiffeCatalog, (uid) => spiffePolicy(uid, 65534));
  await core.backend.pki.createCa(X509_CA_PATH, "ecdsa-p256", {
    commonName: `${TRUST_DOMAIN} SPIFFE CA`,
    uri: `spiffe://${TRUST_DOMAIN}`,
  });
  await core.backend.transit.create(JWT_ISSUER_PATH, "ecdsa-p256");
  const api = new WorkloadApi(core.deps, svidTtlSecs, new RevocationList());
  const catalog = core.deps.state.current().catalog;
  return {
    deps: core.deps,
    backend: core.backend,
    peer: core.peer,
    api,
    x509: issuersOf(catalog, "x509")[0]!,
    jwt: issuersOf(catalog, "jwt")[0]!,
    fetchJwt: core.adapter(spiffeService(core.deps, api), "fetchJWTSVID", {
      "workload.spiffe.io": [...SPIFFE_HEADER["workload.spiffe.io"]],
    }),
    close() {
      api.close();
      core.backend.close();
      core.audit.close();
    },
  };
}
