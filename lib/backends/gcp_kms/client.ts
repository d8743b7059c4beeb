/**
 * The Cloud KMS client: the official `@google-cloud/kms` gRPC client, built
 * from the backend's endpoint and the bundle credential.
 *
 * The endpoint is the catalog backend `addr` (endpoint.ts); a plaintext
 * loopback endpoint gets no authentication at all.
 *
 * Credentials: the sealed service-account JSON when the bundle holds one
 * (only a `service_account` key is accepted, and only its
 * `client_email`, `private_key` and `project_id` are handed over; no file,
 * no environment variable), else Application Default Credentials. The auth
 * library keeps the private key as a JavaScript string for the client's
 * life, which Basil cannot wipe; Basil's own copies are wiped.
 * @module
 */

import { KeyManagementServiceClient } from "@google-cloud/kms";
import { credentials as grpcCredentials } from "@grpc/grpc-js";
import { InputError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";
import type { GcpEndpoint } from "./endpoint.ts";

interface ServiceAccountKey {
  readonly client_email: string;
  readonly private_key: string;
  readonly project_id?: string;
}

/**
 * Reads the fields Basil uses from a service-account JSON key; throws
 * `InputError` naming the backend and the field (never quoting a value).
 */
export function readServiceAccount(backend: string, json: SecretBytes): ServiceAccountKey {
  const bad = (why: string) =>
    new InputError(
      "backend_cred_invalid",
      `backend ${backend}: the sealed service-account JSON ${why}`,
    );
  let doc: unknown;
  const copy = json.expose().slice();
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(copy));
  } catch {
    throw bad("is not valid JSON");
  } finally {
    copy.fill(0);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw bad("is not an object");
  const o = doc as Record<string, unknown>;
  if (o.type !== "service_account") {
    throw bad(`must be a service-account key ("type": "service_account")`);
  }
  if (typeof o.client_email !== "string" || o.client_email === "") {
    throw bad(`has no "client_email"`);
  }
  if (typeof o.private_key !== "string" || !o.private_key.includes("PRIVATE KEY")) {
    throw bad(`has no PEM "private_key"`);
  }
  return {
    client_email: o.client_email,
    private_key: o.private_key,
    ...(typeof o.project_id === "string" ? { project_id: o.project_id } : {}),
  };
}

/**
 * Builds the client; no I/O happens until the first call. A sealed
 * service-account JSON is checked even when the endpoint needs none, so a
 * bad one stops the start wherever it is used.
 */
export function createKmsClient(
  backend: string,
  endpoint: GcpEndpoint,
  serviceAccountJson: SecretBytes | undefined,
  project: string,
): KeyManagementServiceClient {
  const sa = serviceAccountJson === undefined
    ? undefined
    : readServiceAccount(backend, serviceAccountJson);
  const where = endpoint.host === undefined
    ? {}
    : { apiEndpoint: endpoint.host, servicePath: endpoint.host, port: endpoint.port };
  if (endpoint.insecure) {
    // With channel credentials of its own, the client sends no tokens; a
    // pinned universe domain keeps the auth library from looking one up
    // (through ADC, and then the metadata server).
    return new KeyManagementServiceClient({
      ...where,
      universeDomain: "googleapis.com",
      sslCreds: grpcCredentials.createInsecure(),
    });
  }
  if (sa === undefined) return new KeyManagementServiceClient({ ...where, projectId: project });
  return new KeyManagementServiceClient({
    ...where,
    projectId: sa.project_id ?? project,
    credentials: { client_email: sa.client_email, private_key: sa.private_key },
  });
}
