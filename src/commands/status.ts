import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command';

export default class Status extends BaseCommand {
  static summary = 'Sweeps with trial counts per state, and the trials running now.';

  static description = `Lists sweeps with their trials per state (pending, running, done, failed, diverged), progress and a
rough ETA, and each running trial with its last epoch, errors, speed and heartbeat age. With SWEEP, only
that sweep, plus its failed and diverged trials. Reads the store read-only: run it from a second terminal
while a sweep trains. --watch redraws from the database every --interval seconds until Ctrl-C (when
stdout is not a terminal it prints one snapshot per interval instead; with --json, one JSON line each).`;

  static examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status depth-sweep',
    '<%= config.bin %> status --watch',
    '<%= config.bin %> status --json',
  ];

  static enableJsonFlag = true;

  static args = {
    sweep: Args.string({description: 'sweep name or id (default: every sweep)', required: false}),
  };

  static flags = {
    watch: Flags.boolean({char: 'w', description: 'redraw until Ctrl-C', default: false}),
    interval: Flags.string({description: 'seconds between redraws with --watch', default: '2'}),
  };

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Status);
    const {openDb} = await import('../store/db');
    const {getStatus, renderStatus} = await import('../report/status');
    const {UsageError} = await import('../errors');
    const interval = Number(flags.interval);
    if (!(interval >= 0.2 && interval <= 3600)) {
      throw new UsageError(`--interval must be a number of seconds between 0.2 and 3600; received "${flags.interval}"`, {hint: 'for example: --interval 2'});
    }
    const {syncSlurmDb} = await import('../experiments/slurm/sync');
    const sync = async () => {
      const warning = await syncSlurmDb(flags.db);
      if (warning) process.stderr.write(`warning: ${warning}\n`);
    };
    await sync();
    const db = openDb(flags.db, {readonly: true});
    try {
      const snapshot = () => getStatus(db, {sweep: args.sweep});
      if (!flags.watch) {
        const status = snapshot();
        if (!this.jsonEnabled()) process.stdout.write(renderStatus(status));
        return status;
      }
      const {watch} = await import('../report/watch');
      await watch({
        interval: interval * 1000,
        tty: Boolean(process.stdout.isTTY),
        render: async () => {
          await sync();
          const status = snapshot();
          return this.jsonEnabled() ? JSON.stringify(status) + '\n' : renderStatus(status);
        },
        write: (s) => process.stdout.write(s),
        separator: !this.jsonEnabled(),
      });
      return undefined;
    } finally {
      db.close();
    }
  }
}
