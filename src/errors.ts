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
