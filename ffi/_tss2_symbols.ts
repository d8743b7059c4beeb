/**
 * FFI symbol tables for tpm2-tss (ESYS, TCTI loader, MU, RC) and the libc
 * helpers used to read C memory under a scoped `--allow-ffi`. Pointers are
 * `u64` and out-parameters are `buffer`s, never `pointer` (denied when the
 * flag is scoped). One C prototype per symbol.
 * @module
 */

const B = "buffer", U64 = "u64", U32 = "u32", U16 = "u16", U8 = "u8", USZ = "usize";

export const ESYS = {
  /** TSS2_RC Esys_Initialize(ESYS_CONTEXT **ctx, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi) */
  Esys_Initialize: { parameters: [B, U64, U64], result: U32 },
  /** void Esys_Finalize(ESYS_CONTEXT **ctx) */
  Esys_Finalize: { parameters: [B], result: "void" },
  /** void Esys_Free(void *ptr) */
  Esys_Free: { parameters: [U64], result: "void" },
  /** TSS2_RC Esys_CreatePrimary(ctx, ESYS_TR primary, ESYS_TR sh1, sh2, sh3,
   *  const TPM2B_SENSITIVE_CREATE*, const TPM2B_PUBLIC*, const TPM2B_DATA *outsideInfo,
   *  const TPML_PCR_SELECTION *creationPCR, ESYS_TR *out, TPM2B_PUBLIC**, TPM2B_CREATION_DATA**,
   *  TPM2B_DIGEST**, TPMT_TK_CREATION**) */
  Esys_CreatePrimary: {
    parameters: [U64, U32, U32, U32, U32, B, B, B, B, B, U64, U64, U64, U64],
    result: U32,
  },
  /** TSS2_RC Esys_StartAuthSession(ctx, ESYS_TR tpmKey, ESYS_TR bind, sh1, sh2, sh3,
   *  const TPM2B_NONCE *nonceCaller, TPM2_SE type, const TPMT_SYM_DEF *symmetric,
   *  TPMI_ALG_HASH authHash, ESYS_TR *session) */
  Esys_StartAuthSession: {
    parameters: [U64, U32, U32, U32, U32, U32, U64, U8, B, U16, B],
    result: U32,
  },
  /** TSS2_RC Esys_TRSess_SetAttributes(ctx, ESYS_TR session, TPMA_SESSION flags, TPMA_SESSION mask) */
  Esys_TRSess_SetAttributes: { parameters: [U64, U32, U8, U8], result: U32 },
  /** TSS2_RC Esys_PolicyPCR(ctx, ESYS_TR session, sh1, sh2, sh3,
   *  const TPM2B_DIGEST *pcrDigest, const TPML_PCR_SELECTION *pcrs) */
  Esys_PolicyPCR: { parameters: [U64, U32, U32, U32, U32, B, B], result: U32 },
  /** TSS2_RC Esys_PolicyGetDigest(ctx, ESYS_TR session, sh1, sh2, sh3, TPM2B_DIGEST **out) */
  Esys_PolicyGetDigest: { parameters: [U64, U32, U32, U32, U32, B], result: U32 },
  /** TSS2_RC Esys_Create(ctx, ESYS_TR parent, sh1, sh2, sh3, const TPM2B_SENSITIVE_CREATE*,
   *  const TPM2B_PUBLIC*, const TPM2B_DATA*, const TPML_PCR_SELECTION*, TPM2B_PRIVATE **outPrivate,
   *  TPM2B_PUBLIC **outPublic, TPM2B_CREATION_DATA**, TPM2B_DIGEST**, TPMT_TK_CREATION**) */
  Esys_Create: {
    parameters: [U64, U32, U32, U32, U32, B, B, B, B, B, B, U64, U64, U64],
    result: U32,
  },
  /** TSS2_RC Esys_Load(ctx, ESYS_TR parent, sh1, sh2, sh3, const TPM2B_PRIVATE*,
   *  const TPM2B_PUBLIC*, ESYS_TR *out) */
  Esys_Load: { parameters: [U64, U32, U32, U32, U32, B, B, B], result: U32 },
  /** TSS2_RC Esys_Unseal(ctx, ESYS_TR item, sh1, sh2, sh3, TPM2B_SENSITIVE_DATA **out) */
  Esys_Unseal: { parameters: [U64, U32, U32, U32, U32, B], result: U32 },
  /** TSS2_RC Esys_FlushContext(ctx, ESYS_TR handle) */
  Esys_FlushContext: { parameters: [U64, U32], result: U32 },
} as const satisfies Deno.ForeignLibraryInterface;

export const TCTILDR = {
  /** TSS2_RC Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **out) */
  Tss2_TctiLdr_Initialize: { parameters: [B, B], result: U32 },
  /** void Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx) */
  Tss2_TctiLdr_Finalize: { parameters: [B], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

// TSS2_RC Tss2_MU_<T>_Unmarshal(const uint8_t *buf, size_t len, size_t *offset, T *dest)
export const UNMARSHAL = { parameters: [B, USZ, B, B], result: U32 } as const;
// TSS2_RC Tss2_MU_<T>_Marshal(const T *src, uint8_t *buf, size_t len, size_t *offset)
export const MARSHAL = { parameters: [U64, B, USZ, B], result: U32 } as const;
export const MU = {
  Tss2_MU_TPM2B_PUBLIC_Unmarshal: UNMARSHAL,
  Tss2_MU_TPM2B_PRIVATE_Unmarshal: UNMARSHAL,
  Tss2_MU_TPM2B_SENSITIVE_CREATE_Unmarshal: UNMARSHAL,
  Tss2_MU_TPML_PCR_SELECTION_Unmarshal: UNMARSHAL,
  Tss2_MU_TPMT_SYM_DEF_Unmarshal: UNMARSHAL,
  Tss2_MU_TPM2B_PUBLIC_Marshal: MARSHAL,
  Tss2_MU_TPM2B_PRIVATE_Marshal: MARSHAL,
} as const satisfies Deno.ForeignLibraryInterface;

export const RC = {
  /** const char *Tss2_RC_Decode(TSS2_RC rc) */
  Tss2_RC_Decode: { parameters: [U32], result: U64 },
} as const satisfies Deno.ForeignLibraryInterface;

export const LIBC = {
  /** void *memcpy(void *dest, const void *src, size_t n): copies C memory into a buffer. */
  memcpy: { parameters: [B, U64, USZ], result: U64 },
  /** void *memset(void *s, int c, size_t n): wipes C memory before it is freed. */
  memset: { parameters: [U64, "i32", USZ], result: U64 },
  /** size_t strlen(const char *s) */
  strlen: { parameters: [U64], result: USZ },
} as const satisfies Deno.ForeignLibraryInterface;

export type Unmarshal = {
  [K in keyof typeof MU]: typeof MU[K] extends typeof UNMARSHAL ? K : never;
}[
  keyof typeof MU
];
export type Marshal = Exclude<keyof typeof MU, Unmarshal>;

/** The library files this module opens, by role. */
export const TSS2_LIB_FILES = {
  esys: "libtss2-esys.so.0",
  tctildr: "libtss2-tctildr.so.0",
  mu: "libtss2-mu.so.0",
  rc: "libtss2-rc.so.0",
} as const;
