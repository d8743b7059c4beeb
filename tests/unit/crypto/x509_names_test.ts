/**
 * Name syntax (SPIFFE IDs, DNS names, IP addresses, common names, URIs) and
 * the request checks built on them (x509/names.ts, x509/profile.ts).
 */

import assert from "node:assert/strict";
import { toHex } from "../../../lib/core/encoding.ts";
import {
  checkCaSubject,
  checkLeafRequest,
  ipBytesToText,
  isCommonName,
  isDnsName,
  isUri,
  type LeafRequest,
  MAX_SANS_PER_KIND,
  parseIpAddress,
  parseSpiffeId,
} from "../../../lib/crypto/x509/mod.ts";
import { isCode } from "./x509_helpers.ts";

Deno.test("x509 names: IPv4 and IPv6 parse to their bytes", () => {
  const good: [string, string][] = [
    ["127.0.0.1", "7f000001"],
    ["0.0.0.0", "00000000"],
    ["255.255.255.255", "ffffffff"],
    ["::1", "00000000000000000000000000000001"],
    ["::", "00000000000000000000000000000000"],
    ["2001:db8::8a2e:370:7334", "20010db80000000000008a2e03707334"],
    ["2001:DB8:0:0:0:0:0:1", "20010db8000000000000000000000001"],
    ["fe80::", "fe800000000000000000000000000000"],
    ["::ffff:10.0.0.1", "00000000000000000000ffff0a000001"],
    ["1:2:3:4:5:6:7.8.9.10", "0001000200030004000500060708090a"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
  ];
  for (const [text, hex] of good) {
    const bytes = parseIpAddress(text);
    assert.ok(bytes, text);
    assert.equal(toHex(bytes), hex, text);
    assert.deepEqual(parseIpAddress(ipBytesToText(bytes)), bytes, `canonical text of ${text}`);
  }
  const bad = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.04",
    "01.2.3.4",
    "1.2.3.-4",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.4/24",
    "a.b.c.d",
    ":::",
    "1::2::3",
    "::g",
    "12345::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "::1.2.3",
    "::1.2.3.4:5",
    ":1::",
    "1::2:",
    "fe80::1%eth0",
    "[::1]",
  ];
  for (const text of bad) assert.equal(parseIpAddress(text), undefined, JSON.stringify(text));
});

Deno.test("x509 names: DNS names in preferred name syntax, with a leading wildcard", () => {
  for (
    const n of ["localhost", "a.example.com", "*.example.com", "x-1.y2", "A.B", "a".repeat(63)]
  ) {
    assert.ok(isDnsName(n), n);
  }
  const long = Array.from({ length: 5 }, () => "a".repeat(60)).join(".");
  for (
    const n of [
      "",
      "*",
      "a..b",
      ".a",
      "a.",
      "-a.b",
      "a-.b",
      "a_b.c",
      "a b",
      "*.*.a",
      "a.*.b",
      "a".repeat(64),
      long,
      "é.example",
      "a.example.com\n",
    ]
  ) {
    assert.equal(isDnsName(n), false, JSON.stringify(n));
  }
});

Deno.test("x509 names: SPIFFE IDs, common names and URIs", () => {
  assert.deepEqual(parseSpiffeId("spiffe://example.org/ns/web"), {
    trustDomain: "example.org",
    path: "/ns/web",
  });
  assert.deepEqual(parseSpiffeId("spiffe://example.org"), { trustDomain: "example.org", path: "" });
  for (
    const id of [
      "spiffe://",
      "spiffe:///a",
      "SPIFFE://example.org/a",
      "spiffe://Example.org/a",
      "spiffe://example.org/",
      "spiffe://example.org//a",
      "spiffe://example.org/a/",
      "spiffe://example.org/./a",
      "spiffe://example.org/a/..",
      "spiffe://example.org:8080/a",
      "spiffe://user@example.org/a",
      "spiffe://example.org/a?q",
      "spiffe://example.org/a#f",
      "spiffe://example.org/a b",
      "https://example.org/a",
      `spiffe://example.org/${"a".repeat(2048)}`,
    ]
  ) {
    assert.equal(parseSpiffeId(id), undefined, id);
  }
  assert.ok(isCommonName("Basil CA"));
  assert.ok(isCommonName("é".repeat(64)));
  for (const cn of ["", " a", "a ", "a\nb", "a\u0000", "x".repeat(65)]) {
    assert.equal(isCommonName(cn), false, JSON.stringify(cn));
  }
  assert.ok(isUri("https://example.org/a?b=c"));
  assert.ok(isUri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"));
  for (const u of ["", "example.org", "/rel", "https://a b", "https://é.org", "1http://x"]) {
    assert.equal(isUri(u), false, JSON.stringify(u));
  }
});

function req(over: Partial<LeafRequest>): LeafRequest {
  return { dnsSans: [], ipSans: [], uriSans: [], ttlSecs: 3600, svid: false, ...over };
}

Deno.test("x509 profile: SVID requests need exactly one SPIFFE ID with a path", () => {
  const p = checkLeafRequest(req({ svid: true, uriSans: ["spiffe://example.org/web"] }));
  assert.deepEqual(p.spiffeId, { trustDomain: "example.org", path: "/web" });
  assert.deepEqual(p.uriSans, ["spiffe://example.org/web"]);
  assert.equal(p.commonName, undefined);
  assert.deepEqual(p.dnsSans, []);

  const svid = (uriSans: string[]) => () => checkLeafRequest(req({ svid: true, uriSans }));
  assert.throws(svid([]), isCode("INVALID_REQUEST", /^uri_sans: .*exactly one.*got 0$/));
  assert.throws(
    svid(["spiffe://example.org/a", "spiffe://example.org/b"]),
    isCode("INVALID_REQUEST", /^uri_sans: .*exactly one.*got 2$/),
  );
  assert.throws(
    svid(["https://example.org/a"]),
    isCode("INVALID_REQUEST", "uri_sans[0]: not a valid SPIFFE ID"),
  );
  assert.throws(
    svid(["spiffe://example.org"]),
    isCode("INVALID_REQUEST", /^uri_sans\[0\]: .*needs a path$/),
  );
  // DNS and IP SANs are allowed on an SVID and checked like any other.
  const withDns = checkLeafRequest(
    req({ svid: true, uriSans: ["spiffe://td/x"], dnsSans: ["x.td"], ipSans: ["10.0.0.1"] }),
  );
  assert.deepEqual(withDns.dnsSans, ["x.td"]);
  assert.equal(withDns.ipSans.length, 1);
});

Deno.test("x509 profile: TLS requests need a common name; bad names, IPs and ttl are named", () => {
  const p = checkLeafRequest(
    req({
      commonName: "svc.example.com",
      dnsSans: ["a.example.com", "a.example.com", "SVC.example.com"],
      ipSans: ["127.0.0.1", "::1", "127.0.0.1"],
      uriSans: ["https://svc.example.com/"],
    }),
  );
  assert.deepEqual(p.dnsSans, ["a.example.com", "SVC.example.com"], "CN already listed (any case)");
  assert.equal(p.ipSans.length, 2, "duplicate IP dropped");
  const cnOnly = checkLeafRequest(req({ commonName: "svc.local" }));
  assert.deepEqual(cnOnly.dnsSans, ["svc.local"], "a DNS-shaped CN becomes a DNS SAN");
  const plainCn = checkLeafRequest(req({ commonName: "My Service" }));
  assert.deepEqual(plainCn.dnsSans, []);

  const bad: [Partial<LeafRequest>, string | RegExp][] = [
    [{}, "common_name: required for a TLS certificate"],
    [{ commonName: "" }, "common_name: required for a TLS certificate"],
    [{ commonName: "x".repeat(65) }, /^common_name: must be 1-64 characters/],
    [{ commonName: "a\nb" }, /^common_name: /],
    [{ commonName: "a", dnsSans: ["ok.example", "bad_name"] }, "dns_sans[1]: not a valid DNS name"],
    [{ commonName: "a", dnsSans: ["a..b"] }, "dns_sans[0]: not a valid DNS name"],
    [{ commonName: "a", ipSans: ["300.1.1.1"] }, "ip_sans[0]: not a valid IP address"],
    [{ commonName: "a", ipSans: ["::1", "1::2::3"] }, "ip_sans[1]: not a valid IP address"],
    [{ commonName: "a", ipSans: ["localhost"] }, "ip_sans[0]: not a valid IP address"],
    [{ commonName: "a", uriSans: ["not a uri"] }, /^uri_sans\[0\]: not a valid absolute URI/],
    [{ commonName: "a", uriSans: ["spiffe://td/x"] }, /^uri_sans\[0\]: .*SPIFFE ID outside/],
    [{ commonName: "a", uriSans: ["SPIFFE://td/x"] }, /^uri_sans\[0\]: .*SPIFFE ID outside/],
    [{ commonName: "a", ttlSecs: 0 }, /^ttl: /],
    [{ commonName: "a", ttlSecs: -5 }, /^ttl: /],
    [{ commonName: "a", ttlSecs: 1.5 }, /^ttl: /],
    [{ commonName: "a", ttlSecs: Number.NaN }, /^ttl: /],
    [{ commonName: "a", ttlSecs: Number.POSITIVE_INFINITY }, /^ttl: /],
    [
      {
        commonName: "a",
        dnsSans: Array.from({ length: MAX_SANS_PER_KIND + 1 }, (_, i) => `h${i}`),
      },
      `dns_sans: at most ${MAX_SANS_PER_KIND} entries`,
    ],
  ];
  for (const [over, message] of bad) {
    assert.throws(() => checkLeafRequest(req(over)), isCode("INVALID_REQUEST", message));
  }
  // An SVID's ttl is checked too.
  assert.throws(
    () => checkLeafRequest(req({ svid: true, uriSans: ["spiffe://td/a"], ttlSecs: 0 })),
    isCode("INVALID_REQUEST", /^ttl: /),
  );
});

Deno.test("x509 profile: CA subjects", () => {
  assert.deepEqual(checkCaSubject({ commonName: "CA", uri: "spiffe://example.org" }), {
    commonName: "CA",
    uri: "spiffe://example.org",
    trustDomain: "example.org",
  });
  assert.deepEqual(checkCaSubject({ commonName: "CA" }), {
    commonName: "CA",
    uri: undefined,
    trustDomain: undefined,
  });
  assert.equal(
    checkCaSubject({ commonName: "CA", uri: "https://ca.example" }).trustDomain,
    undefined,
  );
  assert.throws(
    () => checkCaSubject({ commonName: "" }),
    isCode("INVALID_REQUEST", /^common_name:/),
  );
  assert.throws(
    () => checkCaSubject({ commonName: "CA", uri: "spiffe://Bad/" }),
    isCode("INVALID_REQUEST", "uri: not a valid SPIFFE ID"),
  );
  assert.throws(
    () => checkCaSubject({ commonName: "CA", uri: "SPIFFE://example.org" }),
    isCode("INVALID_REQUEST", "uri: not a valid SPIFFE ID"),
    "the scheme is matched in any case, so an upper-case one cannot dodge the trust domain pin",
  );
  assert.throws(
    () => checkCaSubject({ commonName: "CA", uri: "no scheme" }),
    isCode("INVALID_REQUEST", "uri: not a valid absolute URI"),
  );
});
