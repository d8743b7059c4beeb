/**
 * basil.broker.v1.NatsService: the six MintNats* RPCs, SignNatsJwt,
 * ValidateNatsJwt and Encrypt/DecryptNatsCurve (lib/nats). Maps wire
 * messages and enums; every call runs as one audited request.
 * @module
 */

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { BrokerDeps } from "../broker/deps.ts";
import { invalidRequest } from "../core/errors.ts";
import { decryptNatsCurve, encryptNatsCurve } from "../nats/curve.ts";
import type { IssuedNatsJwt } from "../nats/issue.ts";
import type { NatsJwtType } from "../nats/jwt.ts";
import { mintNatsAccount, mintNatsOperator, mintNatsSimple, mintNatsUser } from "../nats/mint.ts";
import { signNatsJwt } from "../nats/sign_jwt.ts";
import { validateNatsJwt } from "../nats/validate.ts";
import type { AllowedSigner, ValidationReason } from "../nats/validate.ts";
import {
  NatsJtiMode,
  NatsJwtType as WireNatsJwtType,
  NatsJwtValidationReason,
  NatsService,
} from "../wire/basil/broker/v1/broker_pb.ts";
import type { CredentialResponse } from "../wire/basil/broker/v1/broker_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";
import { durationSecs, requireField, requireKnown } from "./wire_args.ts";

const TYPES: Readonly<Record<NatsJwtType, WireNatsJwtType>> = {
  user: WireNatsJwtType.USER,
  account: WireNatsJwtType.ACCOUNT,
  operator: WireNatsJwtType.OPERATOR,
  signer: WireNatsJwtType.SIGNER,
  server: WireNatsJwtType.SERVER,
  curve: WireNatsJwtType.CURVE,
};

const REASONS: Readonly<Record<ValidationReason, NatsJwtValidationReason>> = {
  valid: NatsJwtValidationReason.VALID,
  malformed: NatsJwtValidationReason.MALFORMED,
  bad_signature: NatsJwtValidationReason.BAD_SIGNATURE,
  unknown_signer: NatsJwtValidationReason.UNKNOWN_SIGNER,
  expired: NatsJwtValidationReason.EXPIRED,
  not_yet_valid: NatsJwtValidationReason.NOT_YET_VALID,
  wrong_type: NatsJwtValidationReason.WRONG_TYPE,
};

/** A wire NatsJwtType as a kind (UNSPECIFIED → undefined). */
function typeFromWire(v: WireNatsJwtType, field: string, op: string): NatsJwtType | undefined {
  requireKnown(WireNatsJwtType as unknown as Record<string, string | number>, v, field, op);
  return (Object.keys(TYPES) as NatsJwtType[]).find((k) => TYPES[k] === v);
}

/** Unix seconds of a Timestamp (must be whole, positive seconds). */
function unixSecs(t: Timestamp | undefined, field: string, op: string): number | undefined {
  if (t === undefined) return undefined;
  if (t.seconds <= 0n || t.nanos !== 0 || t.seconds > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidRequest(`${field} must be a whole positive number of seconds`, op);
  }
  return Number(t.seconds);
}

type Credential = MessageInitShape<GenMessage<CredentialResponse>>;

function credential(j: IssuedNatsJwt): Credential {
  return {
    token: j.token,
    ...(j.expiresAt ? { expiresAt: timestampFromDate(j.expiresAt) } : {}),
  };
}

/** The NatsService binding. */
export function natsService(deps: BrokerDeps): ServiceBinding {
  const common = (
    r: { keyId: string; name: string; ttl?: Parameters<typeof durationSecs>[0] },
    op: string,
  ) => ({
    keyId: requireField(r.keyId, "key_id", op),
    name: r.name,
    ttlSecs: durationSecs(r.ttl, "ttl", op),
  });
  return bindBrokerService(deps, NatsService, {
    async mintNatsUser(req, ctx) {
      return credential(
        await mintNatsUser(deps, ctx.call, {
          ...common(req, "mint_nats_user"),
          userNkey: req.subjectUserNkey,
          pubAllow: req.pubAllow,
          pubDeny: req.pubDeny,
          subAllow: req.subAllow,
          subDeny: req.subDeny,
          issuerAccount: req.issuerAccount,
        }),
      );
    },
    async mintNatsAccount(req, ctx) {
      return credential(
        await mintNatsAccount(deps, ctx.call, {
          ...common(req, "mint_nats_account"),
          accountNkey: req.subjectAccountNkey,
          signingKeys: req.signingKeys,
        }),
      );
    },
    async mintNatsOperator(req, ctx) {
      return credential(
        await mintNatsOperator(deps, ctx.call, {
          ...common(req, "mint_nats_operator"),
          operatorNkey: req.subjectOperatorNkey,
          signingKeys: req.signingKeys,
          accountServerUrl: req.accountServerUrl,
          systemAccount: req.systemAccount,
        }),
      );
    },
    async mintNatsSigner(req, ctx) {
      return credential(
        await mintNatsSimple(deps, ctx.call, "signer", {
          ...common(req, "mint_nats_signer"),
          subjectNkey: req.subjectNkey,
        }),
      );
    },
    async mintNatsServer(req, ctx) {
      return credential(
        await mintNatsSimple(deps, ctx.call, "server", {
          ...common(req, "mint_nats_server"),
          subjectNkey: req.subjectServerNkey,
        }),
      );
    },
    async mintNatsCurve(req, ctx) {
      return credential(
        await mintNatsSimple(deps, ctx.call, "curve", {
          ...common(req, "mint_nats_curve"),
          subjectNkey: req.subjectCurveNkey,
        }),
      );
    },
    async signNatsJwt(req, ctx) {
      const op = "sign_nats_jwt";
      requireKnown(
        NatsJtiMode as unknown as Record<string, string | number>,
        req.jtiMode,
        "jti_mode",
        op,
      );
      return credential(
        await signNatsJwt(deps, ctx.call, {
          keyId: requireField(req.keyId, "key_id", op),
          claimsJson: req.claimsJson,
          expectedType: typeFromWire(req.expectedType, "expected_type", op),
          ttlSecs: durationSecs(req.ttl, "ttl", op),
          expiresAt: unixSecs(req.expiresAt, "expires_at", op),
          issuedAt: unixSecs(req.issuedAt, "issued_at", op),
          jtiMode: req.jtiMode === NatsJtiMode.REWRITE ? "rewrite" : "require_valid",
        }),
      );
    },
    async validateNatsJwt(req, ctx) {
      const op = "validate_nats_jwt";
      const expected = typeFromWire(req.expectedType, "expected_type", op);
      const signers: AllowedSigner[] = req.allowedSigners.map((s, i) => {
        if (s.signer.case === "keyId") return { keyId: s.signer.value };
        if (s.signer.case === "natsPublicKey") return { publicNkey: s.signer.value };
        throw invalidRequest(`allowed_signers[${i}] names no signer`, op);
      });
      const v = await validateNatsJwt(deps, ctx.call, req.jwt, signers, expected);
      const kind = v.jwtType as NatsJwtType | undefined;
      return {
        valid: v.valid,
        reason: REASONS[v.reason],
        subject: v.subject ?? "",
        issuer: v.issuer ?? "",
        matchedSignerKeyId: v.matchedSignerKeyId ?? "",
        jwtType: kind !== undefined && kind in TYPES ? TYPES[kind] : WireNatsJwtType.UNSPECIFIED,
        expiresAtUnix: BigInt(Math.max(0, v.expiresAt ?? 0)),
        issuedAtUnix: BigInt(Math.max(0, v.issuedAt ?? 0)),
      };
    },
    async encryptNatsCurve(req, ctx) {
      const op = "encrypt_nats_curve";
      const ciphertext = await encryptNatsCurve(
        deps,
        ctx.call,
        requireField(req.keyId, "key_id", op),
        req.recipientPublicXkey,
        req.plaintext,
      );
      return { ciphertext };
    },
    async decryptNatsCurve(req, ctx) {
      const op = "decrypt_nats_curve";
      const plaintext = await decryptNatsCurve(
        deps,
        ctx.call,
        requireField(req.keyId, "key_id", op),
        req.senderPublicXkey,
        req.ciphertext,
      );
      ctx.defer(() => plaintext.fill(0));
      return { plaintext };
    },
  });
}
