/**
 * The MintNats{User,Account,Operator,Signer,Server,Curve} RPCs: a typed JWT
 * signed in place by an issuer key the caller holds `mint` on. The issuer's
 * role is its catalog `nats_type` label, and the role chain (roles.ts)
 * fixes which subject role each kind takes.
 *
 * What a `mint` grant on an issuer means (see README "NATS"):
 * - user JWTs never set `bearer_token`: a minted user JWT is usable only
 *   with the user NKey seed, so minting one for someone else's public NKey
 *   grants nothing to the minter;
 * - `issuer_account` must be an account NKey other than the signing key, so
 *   a user JWT can only name the account that a server will check against
 *   the signing key's account JWT;
 * - account JWTs always carry explicit limits (nats-server 2.9 reads a
 *   missing `conn` limit as 0 and refuses every connection).
 * @module
 */

import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import { invalidRequest } from "../core/errors.ts";
import type { NatsJwtType } from "./jwt.ts";
import { authorizeNats, issuerOf } from "./issuer.ts";
import type { NatsIssuer } from "./issuer.ts";
import { checkNatsTtl, issueNatsJwt, subjectFor } from "./issue.ts";
import type { IssuedNatsJwt } from "./issue.ts";
import { decodePublicNkey } from "./nkey.ts";
import type { NkeyRole } from "./nkey.ts";
import { checkSubjects } from "./permissions.ts";

/** Longest `name` claim accepted, in characters. */
export const MAX_NAME_CHARS = 256;

/** Explicit "no limit" account limits (JetStream stays disabled). */
export const ACCOUNT_LIMITS = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
} as const;

/** What every mint request has. */
export interface MintCommon {
  readonly keyId: string;
  readonly name: string;
  readonly ttlSecs: number | undefined;
}

/** MintNatsUser's request. */
export interface MintUser extends MintCommon {
  readonly userNkey: string;
  readonly pubAllow: readonly string[];
  readonly pubDeny: readonly string[];
  readonly subAllow: readonly string[];
  readonly subDeny: readonly string[];
  readonly issuerAccount: string | undefined;
}

/** The RPC's op token in errors. */
function opOf(kind: NatsJwtType): string {
  return `mint_nats_${kind}`;
}

function checkName(name: string, op: string): void {
  if (name.length > MAX_NAME_CHARS || /[\p{Cc}]/u.test(name)) {
    throw invalidRequest(`name must be at most ${MAX_NAME_CHARS} printable characters`, op);
  }
}

function nkeyList(list: readonly string[], role: NkeyRole, field: string, op: string): string[] {
  list.forEach((k, i) => {
    if (!decodePublicNkey(k, [role])) {
      throw invalidRequest(`${field}[${i}] must be a public ${role} NKey`, op);
    }
  });
  return [...new Set(list)];
}

/** Authorizes `mint` on the key and resolves its issuer; checks the common fields first. */
async function begin(
  deps: BrokerDeps,
  call: BrokerCall,
  kind: NatsJwtType,
  req: MintCommon,
): Promise<NatsIssuer> {
  const op = opOf(kind);
  checkNatsTtl(req.ttlSecs, "ttl", op);
  checkName(req.name, op);
  const a = authorizeNats(deps, call, "mint", req.keyId, op);
  return await issuerOf(a, op);
}

function times(deps: BrokerDeps, ttlSecs: number | undefined): { iat: number; exp?: number } {
  const iat = Math.floor(deps.now().getTime() / 1000);
  return ttlSecs === undefined ? { iat } : { iat, exp: iat + ttlSecs };
}

/** MintNatsUser: a user JWT (issuer role A, subject U). */
export async function mintNatsUser(
  deps: BrokerDeps,
  call: BrokerCall,
  req: MintUser,
): Promise<IssuedNatsJwt> {
  const op = opOf("user");
  const perms = {
    pubAllow: checkSubjects(req.pubAllow, "pub_allow", false, op),
    pubDeny: checkSubjects(req.pubDeny, "pub_deny", false, op),
    subAllow: checkSubjects(req.subAllow, "sub_allow", true, op),
    subDeny: checkSubjects(req.subDeny, "sub_deny", true, op),
  };
  const issuer = await begin(deps, call, "user", req);
  const sub = subjectFor(issuer, req.keyId, "user", req.userNkey, "subject_user_nkey", op);
  let issuerAccount: string | undefined;
  if (req.issuerAccount !== undefined && req.issuerAccount !== "") {
    if (!decodePublicNkey(req.issuerAccount, ["A"])) {
      throw invalidRequest("issuer_account must be a public A NKey", op);
    }
    if (req.issuerAccount !== issuer.publicNkey) issuerAccount = req.issuerAccount;
  }
  const side = (allow: string[], deny: string[]) => ({
    ...(allow.length ? { allow } : {}),
    ...(deny.length ? { deny } : {}),
  });
  return await issueNatsJwt(issuer, {
    sub: sub.text,
    name: req.name,
    ...times(deps, req.ttlSecs),
  }, {
    pub: side(perms.pubAllow, perms.pubDeny),
    sub: side(perms.subAllow, perms.subDeny),
    subs: -1,
    data: -1,
    payload: -1,
    ...(issuerAccount ? { issuer_account: issuerAccount } : {}),
    type: "user",
  });
}

/** MintNatsAccount's request. */
export interface MintAccount extends MintCommon {
  readonly accountNkey: string;
  readonly signingKeys: readonly string[];
}

/** MintNatsAccount: an account JWT (issuer role O, subject A) with explicit limits. */
export async function mintNatsAccount(
  deps: BrokerDeps,
  call: BrokerCall,
  req: MintAccount,
): Promise<IssuedNatsJwt> {
  const op = opOf("account");
  const signingKeys = nkeyList(req.signingKeys, "A", "signing_keys", op);
  const issuer = await begin(deps, call, "account", req);
  const sub = subjectFor(issuer, req.keyId, "account", req.accountNkey, "subject_account_nkey", op);
  return await issueNatsJwt(
    issuer,
    { sub: sub.text, name: req.name, ...times(deps, req.ttlSecs) },
    {
      limits: ACCOUNT_LIMITS,
      ...(signingKeys.length ? { signing_keys: signingKeys } : {}),
      default_permissions: { pub: {}, sub: {} },
      type: "account",
    },
  );
}

/** MintNatsOperator's request. */
export interface MintOperator extends MintCommon {
  /** Absent: self-signed (the subject is the issuer key). */
  readonly operatorNkey: string | undefined;
  readonly signingKeys: readonly string[];
  readonly accountServerUrl: string | undefined;
  readonly systemAccount: string | undefined;
}

function checkUrl(url: string, op: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidRequest("account_server_url is not a URL", op);
  }
  if (!["http:", "https:", "nats:", "tls:"].includes(u.protocol)) {
    throw invalidRequest("account_server_url must be an http(s) or nats URL", op);
  }
  return url;
}

/** MintNatsOperator: an operator JWT (issuer role O, subject O; self-signed without a subject). */
export async function mintNatsOperator(
  deps: BrokerDeps,
  call: BrokerCall,
  req: MintOperator,
): Promise<IssuedNatsJwt> {
  const op = opOf("operator");
  const signingKeys = nkeyList(req.signingKeys, "O", "signing_keys", op);
  const url = req.accountServerUrl ? checkUrl(req.accountServerUrl, op) : undefined;
  if (req.systemAccount && !decodePublicNkey(req.systemAccount, ["A"])) {
    throw invalidRequest("system_account must be a public A NKey", op);
  }
  const issuer = await begin(deps, call, "operator", req);
  const subText = req.operatorNkey || issuer.publicNkey;
  const sub = subjectFor(issuer, req.keyId, "operator", subText, "subject_operator_nkey", op);
  return await issueNatsJwt(
    issuer,
    { sub: sub.text, name: req.name, ...times(deps, req.ttlSecs) },
    {
      ...(signingKeys.length ? { signing_keys: signingKeys } : {}),
      ...(url ? { account_server_url: url } : {}),
      ...(req.systemAccount ? { system_account: req.systemAccount } : {}),
      type: "operator",
    },
  );
}

/** MintNatsSigner / Server / Curve's request. */
export interface MintSimple extends MintCommon {
  readonly subjectNkey: string;
}

const SIMPLE_FIELD: Readonly<Record<"signer" | "server" | "curve", string>> = {
  signer: "subject_nkey",
  server: "subject_server_nkey",
  curve: "subject_curve_nkey",
};

/**
 * MintNatsSigner (a signing key of the issuer: same role), MintNatsServer
 * (issuer O, subject N) and MintNatsCurve (issuer O or A, subject X).
 */
export async function mintNatsSimple(
  deps: BrokerDeps,
  call: BrokerCall,
  kind: "signer" | "server" | "curve",
  req: MintSimple,
): Promise<IssuedNatsJwt> {
  const op = opOf(kind);
  const issuer = await begin(deps, call, kind, req);
  const sub = subjectFor(issuer, req.keyId, kind, req.subjectNkey, SIMPLE_FIELD[kind], op);
  return await issueNatsJwt(
    issuer,
    { sub: sub.text, name: req.name, ...times(deps, req.ttlSecs) },
    {
      type: kind,
    },
  );
}
