/** Limits that commands show in their help; a module of its own so that `--help` loads nothing heavy. */

/** Largest grid that `plan`, `run` and `resume` expand unless told otherwise (`--max-trials`). */
export const DEFAULT_MAX_TRIALS = 100_000;
