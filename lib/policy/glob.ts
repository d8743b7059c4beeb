/**
 * Rule target globs (contract §3.3). The term is split on `.`; a whole term
 * `*` matches any key; a final segment `*` matches exactly one segment and a
 * final `**` one or more (never zero). Anything else with a `*` is an error.
 * @module
 */

/** A compiled target glob. */
export interface TargetGlob {
  /** The term as written. */
  readonly source: string;
  /** Whether this glob matches every key (`*` or a bare `**`). */
  readonly matchesAll: boolean;
  matches(key: string): boolean;
}

/** Compiles a glob, or returns the reason it is invalid. */
export function compileGlob(term: string): TargetGlob | string {
  if (term === "") return "empty target";
  if (term === "*") return { source: term, matchesAll: true, matches: () => true };
  const segs = term.split(".");
  if (segs.some((s) => s === "")) return "empty segment in target";
  const last = segs[segs.length - 1]!;
  const prefix = segs.slice(0, -1);
  for (const s of prefix) {
    if (s.includes("*")) return "a wildcard may only be the final segment";
  }
  if (last.includes("*") && last !== "*" && last !== "**") {
    return "wildcards must be a whole segment (`*` or `**`)";
  }
  if (last === "**" && prefix.length === 0) {
    return { source: term, matchesAll: true, matches: (k) => k !== "" };
  }
  if (last !== "*" && last !== "**") {
    return { source: term, matchesAll: false, matches: (k) => k === term };
  }
  const head = prefix.join(".") + ".";
  const one = last === "*";
  return {
    source: term,
    matchesAll: false,
    matches(key) {
      if (!key.startsWith(head)) return false;
      const rest = key.slice(head.length);
      if (rest === "") return false;
      return one ? !rest.includes(".") : rest.split(".").every((s) => s !== "");
    },
  };
}
