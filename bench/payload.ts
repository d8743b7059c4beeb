/**
 * Echo payloads: a valid protobuf `Msg{bytes payload = 1}` of an exact total
 * size, so the floor moves the same bytes as the operation it stands for.
 * No imports, so the echo server stays as small as the guide's.
 * @module
 */

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** `Msg{bytes payload = 1}`, exactly `n` bytes on the wire (n ≥ 2), payload bytes 7. */
export function protoBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 2) throw new RangeError("payload must be at least 2 bytes");
  // 1 tag byte + varint(len) + len = n; at most two candidates to try.
  let len = n - 2;
  while (len > 0 && 1 + varintSize(len) + len > n) len--;
  if (1 + varintSize(len) + len !== n) {
    // A size the one field cannot hit (e.g. 130): pad with an empty field 2.
    const b = new Uint8Array(n);
    b.set(protoBytes(n - 2));
    b[n - 2] = 0x12;
    return b;
  }
  const b = new Uint8Array(n).fill(7);
  b[0] = 0x0a;
  let i = 1;
  let v = len;
  while (v >= 0x80) {
    b[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  b[i] = v;
  return b;
}
