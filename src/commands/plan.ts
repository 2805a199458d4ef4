import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command';
import {DEFAULT_MAX_TRIALS} from '../experiments/limits';
import {ENGINE_CHOICES} from '../engine/names';

export default class PlanCommand extends BaseCommand {
  static summary = 'Show what a study will run: the grid, parameters and MACs per trial, without training.';

  static description = `Validates the study file and expands its grid. One row per trial with the swept values, the seed,
the model, trainable parameters (params) and multiply-accumulates per image (macs: convolutions + fully
connected). Touches no database.`;

  static examples = [
    '<%= config.bin %> plan depth-sweep',
    '<%= config.bin %> plan cardinality-sweep --json',
    '<%= config.bin %> plan my-study/study.yaml --smoke',
  ];

  static enableJsonFlag = true;

  static args = {
    config: Args.string({description: 'YAML study file, or the name of an example study (smoke, depth-sweep, ...)', required: true}),
  };

  static flags = {
    smoke: Flags.boolean({description: 'plan the tiny --smoke version of every trial'}),
    engine: Flags.option({options: ENGINE_CHOICES, description: 'override resources.engine'})(),
    workers: Flags.integer({min: 1, description: 'override resources.workers'}),
    'max-trials': Flags.integer({min: 1, description: `refuse grids of more trials than this (default ${DEFAULT_MAX_TRIALS.toLocaleString('en-US')})`}),
  };

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(PlanCommand);
    const {planStudy} = await import('../experiments/runner');
    const plan = planStudy(args.config, {smoke: flags.smoke, engine: flags.engine, workers: flags.workers, maxTrials: flags['max-trials']});
    const trials = plan.trials.map((t) => ({
      index: t.spec.index,
      key: t.spec.key,
      ...t.spec.variant,
      seed: t.spec.seed,
      model: t.model,
      params: t.params,
      macs: t.macs,
      epochs: t.spec.train.epochs,
    }));
    const result = {name: plan.name, hash: plan.hash, resources: plan.resources, trials};
    if (this.jsonEnabled()) return result;
    const {humanCount} = await import('../report/format');
    const {renderTerminal} = await import('../report/render');
    const axes = Object.keys(plan.trials[0]?.spec.variant ?? {});
    this.log(
      renderTerminal({
        title: `${plan.name}: ${trials.length} trials on ${plan.resources.workers} worker(s)${plan.resources.slots ? ` (${plan.resources.slots})` : ''} x ${plan.resources.threads} thread(s), engine ${plan.resources.engine} (${plan.resources.engineReason}), executor ${plan.resources.executor}`,
        head: ['#', ...axes, 'seed', 'model', 'params', 'MACs', 'epochs', 'key'],
        align: ['right', ...axes.map(() => 'left' as const), 'right', 'left', 'right', 'right', 'right', 'left'],
        rows: plan.trials.map((t) => [
          String(t.spec.index), ...axes.map((a) => JSON.stringify(t.spec.variant[a])), String(t.spec.seed), t.model,
          humanCount(t.params), humanCount(t.macs), String(t.spec.train.epochs), t.spec.key.slice(0, 8),
        ]),
        notes: ['params: trainable parameters; MACs: multiply-accumulates per image (convolutions + fully connected)'],
      }).trimEnd(),
    );
    return result;
  }
}
