/**
 * ECDSA signature encodings: Vault/OpenBao transit speaks ASN.1 DER
 * (`SEQUENCE { INTEGER r, INTEGER s }`), Basil's wire speaks raw `r ‖ s`
 * with each half the curve's byte length (contract §4.2).
 * @module
 */

/** DER → raw `r ‖ s` of `size`-byte halves; undefined when not a well-formed signature. */
export function derToRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  let i = 0;
  const byte = () => der[i++];
  if (byte() !== 0x30) return undefined;
  const seqLen = readLen();
  if (seqLen === undefined || i + seqLen !== der.length) return undefined;
  const r = readInt();
  const s = readInt();
  if (r === undefined || s === undefined || i !== der.length) return undefined;
  const out = new Uint8Array(size * 2);
  out.set(r, size - r.length);
  out.set(s, size * 2 - s.length);
  return out;

  function readLen(): number | undefined {
    const first = byte();
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    const n = first & 0x7f;
    if (n === 0 || n > 2) return undefined;
    let len = 0;
    for (let k = 0; k < n; k++) {
      const b = byte();
      if (b === undefined) return undefined;
      len = (len << 8) | b;
    }
    return len < 0x80 ? undefined : len;
  }

  function readInt(): Uint8Array | undefined {
    if (byte() !== 0x02) return undefined;
    const len = readLen();
    if (len === undefined || len === 0 || i + len > der.length) return undefined;
    let v = der.subarray(i, i + len);
    i += len;
    if (v[0]! & 0x80) return undefined; // negative
    if (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) return undefined; // not minimal
    while (v.length > 0 && v[0] === 0) v = v.subarray(1);
    return v.length > size ? undefined : v;
  }
}

/** Raw `r ‖ s` → DER; undefined when the length is not twice `size`. */
export function rawToDer(raw: Uint8Array, size: number): Uint8Array | undefined {
  if (raw.length !== size * 2) return undefined;
  const int = (v: Uint8Array) => {
    let k = 0;
    while (k < v.length - 1 && v[k] === 0) k++;
    const t = v.subarray(k);
    const pad = t[0]! & 0x80 ? 1 : 0;
    const body = new Uint8Array(pad + t.length);
    body.set(t, pad);
    return [0x02, ...lenBytes(body.length), ...body];
  };
  const content = [...int(raw.subarray(0, size)), ...int(raw.subarray(size))];
  return new Uint8Array([0x30, ...lenBytes(content.length), ...content]);
}

function lenBytes(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0x81, n];
  return [0x82, n >> 8, n & 0xff];
}
