/**
 * Shared base of every command: the `--db` flag and one `catch` that turns known errors into
 * one-line messages with a "Try this:" hint and an exit code (2 bad input, 1 environment).
 * Unknown errors are bugs and keep their stack.
 */
import {Command, Flags} from '@oclif/core';
import {AblateError} from './errors';
import {DEFAULT_DB} from './store/db';

export {DEFAULT_DB};

export abstract class BaseCommand extends Command {
  static baseFlags = {
    db: Flags.string({
      description: 'SQLite file that holds sweeps, trials and metrics',
      default: DEFAULT_DB,
      helpGroup: 'GLOBAL',
    }),
  };

  protected async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (err instanceof AblateError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint) process.stderr.write(`Try this: ${err.hint}\n`);
      return this.exit(err.exitCode);
    }
    return super.catch(err);
  }
}
