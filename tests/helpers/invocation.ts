/**
 * The broker side of sealed invocations in tests: a catalog with the
 * request/response sealing keys, the response-signing key and a target, and
 * the `[broker-identity]` / `[invocation]` config that names them.
 */

/** The broker's invocation audience. */
export const AUDIENCE = "basil://broker.test";

/** Keys for sealed invocations: request/response sealing, response signing, a target. */
export function sealedCatalog(extraKeys: Record<string, unknown> = {}): unknown {
  const key = (o: Record<string, unknown>) => ({
    backend: "db",
    writable: true,
    description: "test key",
    ...o,
  });
  return {
    schemaVersion: 1,
    backends: {
      db: {
        kind: "keystore",
        addr: "${DB}",
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519"],
      },
    },
    keys: {
      "inv.request": key({
        class: "sealing",
        keyType: "x25519",
        path: "inv/request",
        publicPath: "inv/request-pub",
        missing: "warn",
        labels: ["broker_key_use=request-encryption"],
      }),
      "inv.response": key({
        class: "sealing",
        keyType: "x25519",
        path: "inv/response",
        publicPath: "inv/response-pub",
        missing: "warn",
        labels: ["broker_key_use=response-encryption"],
      }),
      "broker.signing": key({
        class: "asymmetric",
        keyType: "ed25519",
        path: "broker/signing",
        missing: "generate",
        labels: ["broker_key_use=response-signing"],
      }),
      "app.sign": key({
        class: "asymmetric",
        keyType: "ed25519",
        path: "app/sign",
        missing: "generate",
      }),
      ...extraKeys,
    },
  };
}

/** `[broker-identity]` and `[invocation]` for the sealed catalog. */
export const SEALED_CONFIG = [
  "[broker-identity]",
  'id = "basil://host/broker"',
  'response-signing-key-id = "broker.signing"',
  "[invocation]",
  "enable = true",
  `audience = ["${AUDIENCE}"]`,
  'request-encryption-key-id = "inv.request"',
].join("\n");
