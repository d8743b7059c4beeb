/**
 * The `google.cloud.kms.v1.KeyManagementService` definition, loaded from the
 * .proto files the `@google-cloud/kms` npm package ships (its imports of
 * `google/api/…`, `google/longrunning/…` and `google/protobuf/…` come from
 * the package's own google-gax dependency).
 */

import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";

const NODE_MODULES = new URL("../../../node_modules/", import.meta.url).pathname;

/** The directory holding `google/cloud/kms/v1/service.proto`. */
export const KMS_PROTOS = `${NODE_MODULES}@google-cloud/kms/build/protos/`;

/** google-gax's proto directory (whichever version the lockfile installed). */
function gaxProtos(): string {
  const dir = `${NODE_MODULES}.deno/`;
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory && e.name.startsWith("google-gax@")) {
      return `${dir}${e.name}/node_modules/google-gax/build/protos/`;
    }
  }
  throw new Error("google-gax is not installed under node_modules/.deno");
}

/** The service definition, ready for `grpc.Server.addService`. */
export function loadKmsService(): grpc.ServiceDefinition {
  const def = loader.loadSync(`${KMS_PROTOS}google/cloud/kms/v1/service.proto`, {
    includeDirs: [KMS_PROTOS, gaxProtos()],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    google: { cloud: { kms: { v1: { KeyManagementService: grpc.ServiceClientConstructor } } } };
  };
  return pkg.google.cloud.kms.v1.KeyManagementService.service;
}
