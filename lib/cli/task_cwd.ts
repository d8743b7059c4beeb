/**
 * Where the CLI acts from when `deno task basil` started it.
 *
 * `deno task` runs every task from the directory holding deno.json (the
 * project root) and exports the caller's directory as `INIT_CWD` (only when
 * `INIT_CWD` is not set already). npm, yarn, pnpm and others export
 * `INIT_CWD` too, so the variable alone does not mean "run by our task": a
 * stray `INIT_CWD` left in a shell would move the CLI somewhere else, and
 * relative paths (`--out-file secret.bin`, `-c agent.toml`) would then land or
 * be read in a directory the user never named.
 *
 * deno task exports no marker of its own that the CLI may read (its
 * `npm_config_user_agent` is outside the CLI's `--allow-env` list, which is
 * deno.json's), so the rule is positional: `INIT_CWD` is honoured only when
 * the process runs in the project root, the one directory `deno task` runs
 * from. Anywhere else the process's own directory wins, as a user typing a
 * command expects.
 * @module
 */

/** Inputs of {@linkcode taskCallerDir}. */
export interface TaskCwdInputs {
  /** The value of `INIT_CWD`, if set. */
  readonly initCwd: string | undefined;
  /** The process's working directory. */
  readonly cwd: string;
  /** The project root: the directory holding cli.ts and deno.json. */
  readonly projectRoot: string;
  /** Resolves symlinks (defaults to `Deno.realPathSync`); undefined when it cannot. */
  readonly realPath?: (path: string) => string | undefined;
}

function defaultRealPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

/**
 * The directory to change to before running the CLI, or undefined to stay
 * where the process is: `INIT_CWD` when it is set, absolute, and the
 * process runs in the project root (what `deno task` does).
 */
export function taskCallerDir(inputs: TaskCwdInputs): string | undefined {
  const { initCwd, cwd, projectRoot } = inputs;
  if (initCwd === undefined || initCwd === "" || !initCwd.startsWith("/")) return undefined;
  const real = inputs.realPath ?? defaultRealPath;
  const here = real(cwd) ?? trimSlash(cwd);
  const root = real(projectRoot) ?? trimSlash(projectRoot);
  if (trimSlash(here) !== trimSlash(root)) return undefined;
  return initCwd;
}

/** Reads `INIT_CWD` if the sandbox lets the CLI read it (a compiled binary may not). */
export function readInitCwd(): string | undefined {
  try {
    return Deno.env.get("INIT_CWD");
  } catch {
    return undefined;
  }
}
