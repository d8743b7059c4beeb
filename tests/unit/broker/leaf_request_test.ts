/**
 * IssueCertificate request checks: the TTL cap, common-name and SAN syntax,
 * each rejection INVALID_ARGUMENT naming the field; never a URI SAN. Through
 * the broker, the checks run after authorization and record `invalid_request`.
 */

import assert from "node:assert/strict";
import { checkLeafRequest } from "../../../lib/broker/leaf_request.ts";
import type { IssueRequest } from "../../../lib/broker/leaf_request.ts";
import { issueCertificate } from "../../../lib/broker/minting.ts";
import { DEFAULT_MAX_CERT_TTL_SECS } from "../../../lib/config/schema.ts";
import { BasilError } from "../../../lib/core/errors.ts";
import { rejectsWith, run, withBroker } from "./helpers.ts";

const base: IssueRequest = {
  commonName: "web.internal",
  dnsSans: ["web.internal"],
  ipSans: ["10.0.0.7"],
  ttlSecs: 3600,
};

function rejects(req: Partial<IssueRequest>, message: RegExp, max = 86400): void {
  assert.throws(
    () => checkLeafRequest({ ...base, ...req }, max),
    (e: unknown) =>
      e instanceof BasilError && e.code === "INVALID_REQUEST" && message.test(e.message),
    JSON.stringify(req),
  );
}

Deno.test("leaf request: good requests pass, without a URI SAN", () => {
  assert.equal(DEFAULT_MAX_CERT_TTL_SECS, 86400);
  const ok: Partial<IssueRequest>[] = [
    {},
    { ttlSecs: 86400 },
    { dnsSans: ["*.example.org", "a-b.c9.example", "x".repeat(63) + ".org"] },
    { dnsSans: [`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`] },
    { ipSans: ["0.0.0.0", "255.255.255.255", "::1", "fd00::1:2", "::ffff:10.0.0.1"] },
    { commonName: "Büro-Drucker 3" },
    { commonName: "x".repeat(64) },
  ];
  for (const r of ok) {
    const out = checkLeafRequest({ ...base, ...r }, 86400);
    assert.deepEqual(out.uriSans, []);
    assert.equal(out.svid, false);
  }
});

Deno.test("leaf request: ttl is required and capped, naming ttl and the config key", () => {
  rejects({ ttlSecs: undefined }, /^ttl is required$/);
  rejects({ ttlSecs: 0 }, /^ttl is required$/);
  rejects({ ttlSecs: 86401 }, /^ttl exceeds the 86400-second maximum \(max-cert-ttl-secs\)$/);
  rejects({ ttlSecs: 10 * 365 * 86400 }, /^ttl exceeds/);
  rejects({ ttlSecs: 61 }, /^ttl exceeds the 60-second maximum/, 60);
});

Deno.test("leaf request: common_name is printable and at most 64 bytes", () => {
  rejects({ commonName: "" }, /^common_name is required$/);
  for (
    const cn of [
      "x".repeat(65),
      "é".repeat(33), // 66 bytes, 33 characters
      "a\nb",
      "a\u0000b",
      "a\u007fb",
      "a\u0085b",
      "a\u200eb",
      "a\u2028b",
      " lead",
      "trail ",
      "\ud800",
    ]
  ) {
    rejects({ commonName: cn }, /^common_name must be at most 64 bytes of printable characters/);
  }
});

Deno.test("leaf request: DNS and IP SANs are checked for syntax, naming the entry", () => {
  const badDns = [
    "",
    "-a.org",
    "a-.org",
    "a..org",
    "a.org.",
    "a_b.org",
    "*",
    "a.*.org",
    "*a.org",
    "**.org",
    "x".repeat(64) + ".org",
    `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`,
    "spiffe://example.org/admin",
    "münchen.de",
    "a b.org",
  ];
  for (const d of badDns) {
    rejects({ dnsSans: ["ok.org", d] }, /^dns_sans\[1\] is not a valid DNS name$/);
  }
  const badIp = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "01.2.3.4",
    "1.2.3.4/8",
    "::1%eth0",
    ":::",
    "g::1",
    "example.org",
  ];
  for (const ip of badIp) rejects({ ipSans: [ip] }, /^ip_sans\[0\] is not an IP address$/);
  rejects(
    { dnsSans: Array.from({ length: 101 }, (_, i) => `h${i}.org`) },
    /^dns_sans has more than 100/,
  );
});

Deno.test("IssueCertificate: checks run after authorization and record invalid_request", async () => {
  await withBroker(async (b) => {
    await b.backend.pki.createCa("pki/issue/tls", "ecdsa-p256", { commonName: "TLS CA" });
    await rejectsWith(
      run(b, (c) => issueCertificate(b.deps, c, "app.tls_ca", "w", [], [], 86401)),
      "INVALID_REQUEST",
      /^ttl exceeds the 86400-second maximum/,
    );
    // A smaller configured cap applies.
    (b.deps as { limits: object }).limits = { ...b.deps.limits, maxCertTtlSecs: 600 };
    await rejectsWith(
      run(b, (c) => issueCertificate(b.deps, c, "app.tls_ca", "w", [], [], 601)),
      "INVALID_REQUEST",
      /^ttl exceeds the 600-second maximum/,
    );
    await rejectsWith(
      run(b, (c) => issueCertificate(b.deps, c, "app.tls_ca", "w", ["bad_name"], [], 60)),
      "INVALID_REQUEST",
      /^dns_sans\[0\]/,
    );
    // Not granted: the denial comes first, whatever the request says.
    await rejectsWith(
      run(b, (c) => issueCertificate(b.deps, c, "other.sig", "w", ["bad_name"], [], 10 ** 9)),
      "UNAUTHORIZED",
    );
    const leaf = await run(
      b,
      (c) => issueCertificate(b.deps, c, "app.tls_ca", "w.internal", [], [], 600),
    );
    leaf.privateKeyDer.wipe();
    assert.deepEqual(
      b.sink.records.map((r) => [r.decision, r.outcome]),
      [
        ["allow", "invalid_request"],
        ["allow", "invalid_request"],
        ["allow", "invalid_request"],
        ["deny", "deny"],
        ["allow", "allow"],
      ],
    );
  });
});
