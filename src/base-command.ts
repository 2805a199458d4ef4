/**
 * Shared bases of the commands: one `catch` that turns known errors into one-line messages with a
 * "Try this:" hint and an exit code (2 bad input, 1 environment), and for the commands that use the
 * store, the `--db` flag. Unknown errors are bugs and keep their stack.
 */
import {Command, Flags} from '@oclif/core';
import {AblateError} from './errors';
import {DEFAULT_DB} from './store/default-db';

export {DEFAULT_DB};

/** A command that touches no database (init, version). */
export abstract class AblateCommand extends Command {
  /**
   * --json output. Without a colour theme this is the text oclif prints (JSON indented by two spaces), written
   * at once: oclif tokenises the text to colour it, which took seconds for a report of 10,000 trials.
   */
  logJson(json: unknown): void {
    if (!this.config.theme?.json) {
      let text: string | undefined;
      try {
        text = JSON.stringify(json, null, 2);
      } catch {
        // A cycle (in an error's properties, say): oclif's writer names it instead of failing.
      }
      if (text !== undefined) {
        process.stdout.write(text + '\n');
        return;
      }
    }
    super.logJson(json);
  }

  protected async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (err instanceof AblateError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint) process.stderr.write(`Try this: ${err.hint}\n`);
      return this.exit(err.exitCode);
    }
    return super.catch(err);
  }
}

/** A command that reads or writes the store. */
export abstract class BaseCommand extends AblateCommand {
  static baseFlags = {
    db: Flags.string({
      description: 'SQLite file that holds sweeps, trials and metrics',
      default: DEFAULT_DB,
      helpGroup: 'GLOBAL',
    }),
  };

  /** Where `run` and `resume` write progress and closing lines: stdout, or stderr when stdout carries --json. */
  protected progressOutput(): [log: (line: string) => void, out: NodeJS.WriteStream] {
    if (this.jsonEnabled()) return [(line) => process.stderr.write(`${line}\n`), process.stderr];
    return [(line) => this.log(line), process.stdout];
  }
}
