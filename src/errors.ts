/**
 * Error classes that the CLI turns into one-line messages with a hint and an exit code.
 * Exit code 2: bad input (config, flags, files the user named). Exit code 1: environment problems.
 * Anything that is not an AblateError is a bug and is printed with its stack.
 */
export class AblateError extends Error {
  readonly hint?: string;
  readonly exitCode: number;
  constructor(message: string, opts: {hint?: string; exitCode?: number} = {}) {
    super(message);
    this.name = new.target.name;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Bad input from the user: exit code 2. */
export class UsageError extends AblateError {
  constructor(message: string, opts: {hint?: string} = {}) {
    super(message, {...opts, exitCode: 2});
  }
}

/** The machine is missing something or refuses something (files, permissions, disk, libraries): exit code 1. */
export class EnvironmentError extends AblateError {
  constructor(message: string, opts: {hint?: string} = {}) {
    super(message, {...opts, exitCode: 1});
  }
}

/** One problem found while validating a study file. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `train.optimizer.lr` or `sweep["model.depth"]`. */
  path: string;
  message: string;
  /** 1-based position in the file, where known. */
  line?: number;
  column?: number;
}

/** All problems of a study file at once: exit code 2. */
export class ConfigError extends UsageError {
  readonly file: string;
  readonly issues: ConfigIssue[];
  constructor(file: string, unordered: ConfigIssue[]) {
    // In file order, so the messages read top to bottom like the file.
    const issues = [...unordered].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    super(
      issues
        .map((i) => `${file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`)
        .join('\n'),
      {hint: 'fix the lines above and run the command again; nothing was written'},
    );
    this.file = file;
    this.issues = issues;
  }
}

/** Edit distance where swapping two neighbouring letters counts as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({length: a.length + 1}, (_, i) => Array.from({length: b.length + 1}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate a user most likely meant by `word`, for "did you mean": a dotted candidate whose last
 * segment is `word` (`depth` -> `model.depth`), else the nearest one ignoring case, when at most a third of
 * the letters (at least one) differ. Undefined when nothing is that close or `word` is itself a candidate.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  if (list.includes(word)) return undefined;
  const suffix = list.find((c) => c.endsWith(`.${word}`));
  if (suffix) return suffix;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of list) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) && bestD < word.length ? best : undefined;
}

/** ` (did you mean "x"?)` when a candidate is close to `word` (see `closest`), else the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const near = closest(word, candidates);
  return near === undefined ? '' : ` (did you mean "${near}"?)`;
}
