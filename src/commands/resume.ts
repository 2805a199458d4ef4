import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command';
import {DEFAULT_MAX_TRIALS} from '../experiments/limits';
import type {RunResult} from '../experiments/runner';
import {UsageError} from '../errors';
import type {EngineName} from '../engine/names';

export default class Resume extends BaseCommand {
  static summary = 'Resume a stored sweep from the config saved with it (even if the YAML file changed or is gone).';

  static description = `Finds the sweep by name or id (default: the latest), reclaims trials left running by a dead run, and
trains what is not finished, exactly as \`ablate run\` on the original file would: on the engine the sweep
trains on, reading a relative dataset.path beside the original study file. A sweep that ran on Slurm
re-attaches to its jobs (nothing is submitted twice) and submits what is pending.`;

  static examples = ['<%= config.bin %> resume', '<%= config.bin %> resume depth-sweep', '<%= config.bin %> resume 3 --retry-failed'];

  static enableJsonFlag = true;

  static args = {
    sweep: Args.string({description: 'sweep name or id (default: latest)'}),
  };

  static flags = {
    'retry-failed': Flags.boolean({description: 'queue failed trials again'}),
    workers: Flags.integer({min: 1, description: 'override resources.workers'}),
    detach: Flags.boolean({description: 'slurm: submit what is pending and exit without following the jobs'}),
    'max-trials': Flags.integer({min: 1, description: `refuse grids of more trials than this (default ${DEFAULT_MAX_TRIALS.toLocaleString('en-US')})`}),
  };

  async run(): Promise<RunResult> {
    const {args, flags} = await this.parse(Resume);
    const {openDb} = await import('../store/db');
    const db = openDb(flags.db, {readonly: true});
    const sweep = (
      args.sweep === undefined
        ? db.prepare('SELECT * FROM sweeps ORDER BY id DESC LIMIT 1').get()
        : db.prepare('SELECT * FROM sweeps WHERE id = ? OR name = ? ORDER BY id DESC LIMIT 1').get(Number(args.sweep) || -1, args.sweep)
    ) as {id: number; name: string; config_path: string; config_yaml: string; smoke: number; engine: EngineName | null} | undefined;
    // A sweep that ran on Slurm resumes there, whatever its study file says (it may have been run with --executor slurm).
    const onSlurm = !!sweep && !!db.prepare('SELECT 1 FROM slurm_sweeps WHERE sweep_id = ?').get(sweep.id);
    db.close();
    if (!sweep) throw new UsageError(`no sweep ${args.sweep ?? ''} in ${flags.db}`.trim(), {hint: 'ablate status lists the sweeps'});
    const {runWithProgress} = await import('../experiments/progress');
    const result = await runWithProgress(
      {
        configPath: sweep.config_path,
        configText: sweep.config_yaml,
        smoke: !!sweep.smoke,
        // The engine the sweep trained on, so that resuming never mixes engines in one sweep.
        engine: sweep.engine ?? undefined,
        db: flags.db,
        retryFailed: flags['retry-failed'],
        workers: flags.workers,
        executor: onSlurm ? 'slurm' : undefined,
        detach: flags.detach,
        maxTrials: flags['max-trials'],
      },
      (line) => this.log(line),
    );
    if (result.exitCode !== 0) {
      if (this.jsonEnabled()) this.logJson(result);
      this.exit(result.exitCode);
    }
    return result;
  }
}
