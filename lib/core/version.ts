/** Build version and wire protocol number reported by Status and Health. @module */

/** The basil version string. */
export const VERSION = "0.1.0";
/** `StatusResponse.protocol`. */
export const PROTOCOL = 1;
