/**
 * WebCrypto AES-256-GCM as an independent oracle for the sealed-bundle
 * layout: Basil itself seals and opens with node:crypto (lib/crypto/aead.ts),
 * so tests that check the layout decrypt through this other implementation.
 */

/** Decrypts `ciphertext ‖ tag`; `undefined` when it does not authenticate. */
export async function webCryptoAesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Uint8Array | undefined> {
  const k = await crypto.subtle.importKey("raw", copy(key), "AES-GCM", false, ["decrypt"]);
  try {
    const params = { name: "AES-GCM", iv: copy(nonce), additionalData: copy(aad), tagLength: 128 };
    return new Uint8Array(await crypto.subtle.decrypt(params, k, copy(ciphertext)));
  } catch {
    return undefined;
  }
}

function copy(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(u);
}
