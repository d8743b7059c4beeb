/**
 * InvocationService.Invoke (contract §11.3): a sealed, signed request
 * arrives through a presenter (the socket peer, e.g. the NATS bridge); the
 * actor is the policy subject of the request's signature key.
 *
 * Order, every check before policy:
 * 1. enabled ([invocation] enable) else INVOCATION_DISABLED; size ≤
 *    max-encrypt-size else PAYLOAD_TOO_LARGE;
 * 2. strict decode and role shape (lib/cose) else INVALID_REQUEST naming the
 *    check;
 * 3. the sender: the outer kid names a policy subject with an `ed25519`
 *    signature-key principal, and the signature verifies under one of its
 *    keys. An unknown kid and a bad signature are the same UNAUTHORIZED;
 * 4. claims: audience ∈ config, iat skew, exp (or iat+60) not older than
 *    the skew, exp−iat ≤ max-ttl; then replay of (sender_key_id, cti)
 *    (INVALID_REQUEST naming the check; a full cache RATE_LIMITED);
 * 5. recipient kid = request-encryption key (INVALID_REQUEST);
 * 6. policy: the actor needs `decrypt` on the request key (UNAUTHORIZED),
 *    then the request opens (any failure DECRYPT_FAILED);
 * 7. the response key must be a sealing X25519 key labelled
 *    `broker_key_use=response-encryption` (else INTERNAL: the response
 *    cannot be protected); from here every outcome is a sealed
 *    sign-response: only `application/basil.sign-request` executes (other
 *    `application/basil.*` request types answer INVALID_REQUEST
 *    `UNSUPPORTED_CONTENT_TYPE`); `sign` on the body's key is decided for the
 *    actor (DENIED `UNAUTHORIZED`, no oracle), then signed.
 *
 * Every decision is recorded with `authenticated_by = signature-key:<subject>`
 * and the socket peer as presenter only; a request rejected before policy
 * is recorded as a denial of `invoke` on the request key.
 * @module
 */

import { sha3_256 } from "@noble/hashes/sha3.js";
import type { InvocationConfig } from "../config/schema.ts";
import { BasilError, invalidRequest, rateLimited, unauthorized } from "../core/errors.ts";
import { decodeBase64Url } from "../core/encoding.ts";
import {
  CONTENT_TYPE,
  decodeSignRequest,
  encodeSignResponse,
  type SignResponseBody,
  STATUS_CODE,
} from "../cose/bodies.ts";
import { CoseError, openEncrypt, type Sign1Signer } from "../cose/cose.ts";
import {
  checkClaims,
  type ParsedInvocation,
  parseInvocation,
  sealInvocation,
} from "../cose/invocation.ts";
import { ReplayCache } from "../cose/replay.ts";
import { decide } from "../policy/pdp.ts";
import type { PeerIdentity } from "../policy/pdp.ts";
import type { BrokerCall, PendingDecision } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import { sealingPrivate, sealingPublic, signWithKey } from "./invoke_keys.ts";
import { cap } from "./keys.ts";
import type { Generation } from "./state.ts";

const OP = "invoke";

/** The invocation settings and the replay cache (one per agent). */
export class Invoker {
  readonly replay: ReplayCache;
  constructor(readonly config: InvocationConfig) {
    this.replay = new ReplayCache(config.replayCacheCapacity);
  }
}

/** The sealed reply and where the bridge should publish it. */
export interface InvokeResult {
  readonly message: Uint8Array;
  readonly responseSubject: string | undefined;
}

function presenterId(deps: BrokerDeps, gen: Generation, peer: PeerIdentity | undefined): string {
  if (!peer) return "unknown";
  const name = gen.policy.userNames.get(peer.uid) ?? deps.hostUserName(peer.uid);
  return name === undefined ? `uid:${peer.uid}` : `${name}(${peer.uid})`;
}

/** Records one decision for the sealed actor (or for nobody, before one is known). */
function record(
  deps: BrokerDeps,
  call: BrokerCall,
  gen: Generation,
  d: { op: string; target: string; subject?: string; allow: boolean; reason: string },
): void {
  const pending: PendingDecision = {
    at: deps.now(),
    generation: gen.id,
    op: d.op,
    targetId: d.target,
    subject: d.subject,
    authenticatedBy: d.subject === undefined ? [] : [`signature-key:${d.subject}`],
    presenterKind: call.peer ? "unix_peercred" : "none",
    presenterId: presenterId(deps, gen, call.peer),
    allow: d.allow,
    reason: d.reason,
  };
  call.record(pending);
}

/** The subject named by `kid` and its ed25519 signature keys. */
function senderKeys(gen: Generation, kid: string): Uint8Array[] {
  const s = gen.policy.subjects.get(kid);
  if (!s) return [];
  const keys: Uint8Array[] = [];
  for (const p of s.principals) {
    if (p.kind !== "signature-key" || p.algorithm !== "ed25519") continue;
    const k = decodeBase64Url(p.public);
    if (k?.length === 32) keys.push(k);
  }
  // allOf mixing a unix principal cannot be satisfied by a signature alone.
  if (s.mode === "allOf" && s.principals.some((p) => p.kind !== "signature-key")) return [];
  return keys;
}

/** Handles one sealed request. */
export async function invoke(
  deps: BrokerDeps,
  call: BrokerCall,
  invoker: Invoker | undefined,
  bytes: Uint8Array,
): Promise<InvokeResult> {
  const cfg = invoker?.config;
  if (!invoker || !cfg?.enable || !cfg.requestEncryptionKeyId || !cfg.responseSigningKeyId) {
    throw new BasilError("INVOCATION_DISABLED", "sealed invocation is disabled", { op: OP });
  }
  cap("message", bytes, deps.limits.maxEncryptSize, OP);
  const gen = deps.state.current();
  const requestKeyId = cfg.requestEncryptionKeyId;
  const reject = (reason: string, e: BasilError): never => {
    record(deps, call, gen, {
      op: OP,
      target: requestKeyId,
      allow: false,
      reason: `sealed:${reason}`,
    });
    throw e;
  };
  const nowUnix = Math.floor(deps.now().getTime() / 1000);

  let p: ParsedInvocation;
  try {
    p = parseInvocation(bytes, "request");
  } catch (e) {
    const reason = e instanceof CoseError ? e.reason : "decode-malformed";
    return reject(reason, invalidRequest(`sealed request rejected: ${reason}`, OP));
  }
  if (p.alg !== "EdDSA") return reject("sender-unknown", unauthorized(OP));
  const candidates = senderKeys(gen, p.kid);
  const verified = candidates.some((k) => {
    try {
      p.verifySignature(k);
      return true;
    } catch {
      return false;
    }
  });
  if (!verified) return reject("signature-invalid", unauthorized(OP));
  const actor = p.kid;
  try {
    checkClaims(p.header, "request", {
      nowUnix,
      audiences: cfg.audiences,
      clockSkewSecs: cfg.clockSkewSecs,
      maxTtlSecs: cfg.maxTtlSecs,
    });
  } catch (e) {
    const reason = e instanceof CoseError ? e.reason : "claims-invalid";
    return reject(reason, invalidRequest(`sealed request rejected: ${reason}`, OP));
  }
  const c = p.header.claims;
  const expiresAt = (c.expiresAt ?? c.issuedAt + 60) + cfg.clockSkewSecs;
  const admitted = invoker.replay.admit(p.header.senderKeyId, c.cti, expiresAt, nowUnix);
  if (admitted === "replay") {
    return reject("claims-replay", invalidRequest("sealed request rejected: claims-replay", OP));
  }
  if (admitted === "full") return reject("replay-cache-full", rateLimited(OP));
  if (p.recipientKeyId !== requestKeyId) {
    return reject(
      "recipient-mismatch",
      invalidRequest("sealed request rejected: recipient-mismatch", OP),
    );
  }

  // Policy: the actor must be allowed to decrypt with the request key.
  const dDecrypt = decide(gen.catalog, gen.policy, actor, "decrypt", requestKeyId);
  record(deps, call, gen, {
    op: "decrypt",
    target: requestKeyId,
    subject: actor,
    allow: dDecrypt.allow,
    reason: dDecrypt.allow ? dDecrypt.via : dDecrypt.reason,
  });
  if (!dDecrypt.allow) throw unauthorized("decrypt", dDecrypt.reason);
  const requestKey = gen.catalog.keys.get(requestKeyId);
  if (!requestKey || requestKey.class !== "sealing" || requestKey.keyType !== "x25519") {
    throw new BasilError("INTERNAL", undefined, { op: OP, detail: "request key binding invalid" });
  }
  let plain: Uint8Array;
  {
    using priv = await sealingPrivate(deps, requestKey, OP);
    try {
      plain = openEncrypt(p.encrypt, priv.expose());
    } catch {
      throw new BasilError("DECRYPT_FAILED", undefined, { op: OP });
    }
  }
  try {
    const responder = await responseProtection(deps, gen, cfg, p);
    const body = await execute(deps, call, gen, actor, p.header.contentType, plain);
    return {
      message: await responder(body, bytes, nowUnix),
      responseSubject: p.header.responseSubject,
    };
  } finally {
    plain.fill(0);
  }
}

type Responder = (body: SignResponseBody, request: Uint8Array, now: number) => Promise<Uint8Array>;

/** Resolves the response key and the broker's signer, or fails with INTERNAL. */
async function responseProtection(
  deps: BrokerDeps,
  gen: Generation,
  cfg: InvocationConfig,
  p: ParsedInvocation,
): Promise<Responder> {
  const fail = (detail: string) =>
    new BasilError("INTERNAL", "cannot protect the response", {
      op: OP,
      detail: `INVOCATION_RESPONSE_PROTECTION_FAILED: ${detail}`,
    });
  const rk = gen.catalog.keys.get(p.header.responseKeyId ?? "");
  if (
    !rk || rk.class !== "sealing" || rk.keyType !== "x25519" ||
    rk.labelMap.get("broker_key_use") !== "response-encryption"
  ) {
    throw fail("response_key_id is not a response-encryption key");
  }
  const sk = gen.catalog.keys.get(cfg.responseSigningKeyId!);
  const alg = sk?.keyType === "ed25519"
    ? "EdDSA"
    : sk?.keyType === "ecdsa-p256"
    ? "ES256"
    : undefined;
  if (!sk || !alg || sk.labelMap.get("broker_key_use") !== "response-signing") {
    throw fail("response-signing key binding invalid");
  }
  const recipientPublicKey = await sealingPublic(deps, rk, OP).catch(() => {
    throw fail("response key unreadable");
  });
  const signer: Sign1Signer = {
    alg,
    sign: (tbs) => signWithKey(deps, gen, sk, tbs, OP),
  };
  return async (body, request, now) => {
    const encoded = encodeSignResponse(body);
    try {
      return await sealInvocation({
        signer,
        header: {
          contentAlg: "A256GCM",
          contentType: CONTENT_TYPE.signResponse,
          claims: {
            issuedAt: now,
            expiresAt: now + 60,
            cti: crypto.getRandomValues(new Uint8Array(16)),
          },
          inReplyTo: p.header.claims.cti,
          requestHash: sha3_256(request),
          senderKeyId: sk.name,
        },
        body: encoded,
        recipientPublicKey,
        recipientKeyId: rk.name,
      });
    } catch (e) {
      if (e instanceof BasilError && e.code === "BACKEND_UNAVAILABLE") throw e;
      throw fail("signing or sealing failed");
    } finally {
      encoded.fill(0);
    }
  };
}

function status(
  code: number,
  reason: string,
  retryable = false,
  message?: string,
): SignResponseBody["status"] {
  return { code, reason, retryable, ...(message === undefined ? {} : { message }) };
}

/** Runs the inner operation for the actor; every outcome becomes a response body. */
async function execute(
  deps: BrokerDeps,
  call: BrokerCall,
  gen: Generation,
  actor: string,
  contentType: string,
  plain: Uint8Array,
): Promise<SignResponseBody> {
  const generation = gen.id;
  if (contentType !== CONTENT_TYPE.signRequest) {
    return {
      status: status(STATUS_CODE.INVALID_REQUEST, "UNSUPPORTED_CONTENT_TYPE"),
      policyGeneration: generation,
    };
  }
  let req;
  try {
    req = decodeSignRequest(plain);
  } catch {
    return {
      status: status(
        STATUS_CODE.INVALID_REQUEST,
        "INVALID_REQUEST",
        false,
        "malformed sign-request body",
      ),
      policyGeneration: generation,
    };
  }
  if (req.message.length > deps.limits.maxPayloadSize) {
    return {
      status: status(STATUS_CODE.INVALID_REQUEST, "PAYLOAD_TOO_LARGE"),
      policyGeneration: generation,
    };
  }
  const d = decide(gen.catalog, gen.policy, actor, "sign", req.keyId);
  record(deps, call, gen, {
    op: "sign",
    target: req.keyId.slice(0, 256),
    subject: actor,
    allow: d.allow,
    reason: d.allow ? d.via : d.reason,
  });
  const key = gen.catalog.keys.get(req.keyId);
  if (!d.allow || !key) {
    return {
      status: status(STATUS_CODE.DENIED, "UNAUTHORIZED", false, "not authorized"),
      policyGeneration: generation,
    };
  }
  if (key.class !== "asymmetric") {
    return {
      status: status(
        STATUS_CODE.INVALID_REQUEST,
        "INVALID_REQUEST",
        false,
        "sign needs an asymmetric key",
      ),
      policyGeneration: generation,
    };
  }
  try {
    const signature = await signWithKey(deps, gen, key, req.message, "sign");
    return { status: status(STATUS_CODE.OK, "OK"), policyGeneration: generation, signature };
  } catch (e) {
    const unavailable = e instanceof BasilError && e.code === "BACKEND_UNAVAILABLE";
    return {
      status: status(
        STATUS_CODE.INTERNAL_ERROR,
        unavailable ? "BACKEND_UNAVAILABLE" : "INTERNAL",
        unavailable,
      ),
      policyGeneration: generation,
    };
  }
}
