import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command';
import {DEFAULT_MAX_TRIALS} from '../experiments/limits';
import type {RunResult} from '../experiments/runner';
import {ENGINE_CHOICES} from '../engine/names';

const EXECUTOR_NAMES = ['thread', 'process', 'slurm'] as const;

export default class Run extends BaseCommand {
  static summary = 'Train every trial of a study, storing per-epoch metrics; resumes where it stopped.';

  static description = `Validates the study file, expands its grid (sweep axes x zip groups - exclude rules, x seeds), records
every trial in the database, and trains them on a pool of workers. Each trial has a stable key (the hash of
its resolved config): running the same command again after a crash, kill -9 or Ctrl-C skips finished trials,
reclaims trials left running by the dead run, and continues interrupted trials from their last checkpoint.

The first Ctrl-C (or SIGTERM) stops taking new trials, lets running trials checkpoint and stop, and exits
with code 130 (143); a second one exits at once. Exit code 0 when every trial finished (diverged counts as a
result), 1 when some failed, 2 for a bad study file.

With --executor slurm (or resources.executor: slurm) every trial becomes a task of a Slurm job array; the
command follows them with one squeue call per poll and shows the same progress. Killing it loses nothing:
the jobs run on and the next run or resume re-attaches. Ctrl-C cancels the sweep's jobs (they checkpoint).
--detach submits and exits; ablate status and ablate report then show what has arrived.`;

  static examples = [
    {description: 'Run an example study by name', command: '<%= config.bin %> run depth-sweep'},
    {description: 'Run your own study file', command: '<%= config.bin %> run my-study/study.yaml'},
    {description: 'Check in seconds that every trial of a study builds and trains (tiny sizes)', command: '<%= config.bin %> run depth-sweep --smoke'},
    {description: 'Re-run the failed trials of a finished sweep', command: '<%= config.bin %> run smoke --retry-failed'},
    {description: 'Start over under the same name after changing the study', command: '<%= config.bin %> run my-study/study.yaml --new'},
    {description: 'Print the final counts as JSON (progress goes to stderr)', command: '<%= config.bin %> run smoke --json'},
    {description: 'Submit every trial to Slurm and return at once', command: '<%= config.bin %> run depth-sweep --executor slurm --detach --db /local/ablate.db'},
  ];

  static enableJsonFlag = true;

  static args = {
    config: Args.string({description: 'YAML study file, or the name of an example study (smoke, depth-sweep, ...)', required: true}),
  };

  static flags = {
    smoke: Flags.boolean({description: 'shrink every trial to tiny size (synthetic 8x8 data, one epoch, narrow nets): a seconds-long check of the whole grid'}),
    new: Flags.boolean({description: 'start a new sweep when one with this name exists with a different config'}),
    'retry-failed': Flags.boolean({description: 'queue the failed trials of this sweep again'}),
    engine: Flags.option({options: ENGINE_CHOICES, description: 'override resources.engine; an existing sweep keeps its engine (another one needs --new)'})(),
    workers: Flags.integer({min: 1, description: 'override resources.workers (trials at once)'}),
    executor: Flags.option({options: EXECUTOR_NAMES, description: 'override resources.executor (slurm: one array task per trial on the cluster)'})(),
    detach: Flags.boolean({description: 'slurm: submit the trials, record the jobs and exit; ablate status / report / resume pick them up'}),
    'max-trials': Flags.integer({min: 1, description: `refuse grids of more trials than this (default ${DEFAULT_MAX_TRIALS.toLocaleString('en-US')})`}),
    autotune: Flags.boolean({description: 'native-cpu: choose convolution kernels by timing them (faster on some machines; results then differ in the last bits between runs)'}),
    'checkpoint-dir': Flags.string({description: 'where trial checkpoints go (default: checkpoints/ beside the database)'}),
  };

  async run(): Promise<RunResult> {
    const {args, flags} = await this.parse(Run);
    (await import('../trace')).traceSinceStart('cli-start');
    const {runWithProgress} = await import('../experiments/progress');
    const result = await runWithProgress(
      {
        configPath: args.config,
        db: flags.db,
        smoke: flags.smoke,
        forceNew: flags.new,
        retryFailed: flags['retry-failed'],
        engine: flags.engine,
        workers: flags.workers,
        executor: flags.executor,
        detach: flags.detach,
        maxTrials: flags['max-trials'],
        autotune: flags.autotune || undefined,
        checkpointDir: flags['checkpoint-dir'],
      },
      ...this.progressOutput(),
    );
    if (result.exitCode !== 0) {
      if (this.jsonEnabled()) this.logJson(result);
      this.exit(result.exitCode);
    }
    return result;
  }
}
