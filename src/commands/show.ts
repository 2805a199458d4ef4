import {Args} from '@oclif/core';
import {BaseCommand} from '../base-command';

export default class Show extends BaseCommand {
  static summary = "One trial: its resolved spec and per-epoch curve.";

  static description = `Prints a trial's identity (sweep, key, swept values, seed, state, times started and crashes),
the engine that produced its numbers with that engine's versions, parameters and MACs, the fully
resolved spec it trained with, one row per epoch (train/test loss and error in %, learning rate,
time, images/s) and its events (retries, failures, signals, ignored checkpoints). TRIAL is a trial id
or a prefix of its key. Reads the store read-only, so it works while a sweep is running.`;

  static examples = ['<%= config.bin %> show 12', '<%= config.bin %> show 3fa9c2', '<%= config.bin %> show 12 --json'];

  static enableJsonFlag = true;

  static args = {
    trial: Args.string({description: 'trial id or key prefix', required: true}),
  };

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Show);
    const {openDb} = await import('../store/db');
    const {getTrialDetail, renderTrial} = await import('../report/show');
    const db = openDb(flags.db, {readonly: true});
    try {
      const detail = getTrialDetail(db, args.trial);
      if (!this.jsonEnabled()) process.stdout.write(renderTrial(detail));
      return detail;
    } finally {
      db.close();
    }
  }
}
