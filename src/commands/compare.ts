import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command';
import {FORMATS, METRICS} from '../report/metrics';


export default class Compare extends BaseCommand {
  static summary = 'The same variants of two sweeps side by side, with the differences.';

  static description = `Matches the variants of two sweeps by their swept values (e.g. the same depth × plain/residual grid
on two datasets, or with two engines) and prints each metric as mean ± std over seeds for both, with
B − A and its 95% confidence interval (a paired t-test over the seeds both sweeps ran, Welch's t-test
where they ran different seeds; * where it excludes 0). Also names the settings outside the swept
axes in which the two sweeps differ. Reads the store read-only.`;

  static examples = [
    '<%= config.bin %> compare depth-sweep depth-sweep-mnist',
    '<%= config.bin %> compare 3 5 --metric best_test_err',
    '<%= config.bin %> compare depth-sweep depth-sweep-mnist --format markdown',
  ];

  static enableJsonFlag = true;

  static args = {
    a: Args.string({description: 'first sweep (name or id)', required: true}),
    b: Args.string({description: 'second sweep (name or id)', required: true}),
  };

  static flags = {
    metric: Flags.option({options: METRICS, default: 'final_test_err', description: 'metric to compare'})(),
    where: Flags.string({description: 'keep trials whose swept or spec value equals this (key=value); repeatable', multiple: true}),
    format: Flags.option({options: FORMATS, default: 'table', description: 'output format'})(),
  };

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Compare);
    const {openDb} = await import('../store/db');
    const {buildComparison, comparisonCsv, comparisonJson, comparisonTable} = await import('../report/compare');
    const {renderCsv, renderMarkdown, renderTerminal} = await import('../report/render');
    const db = openDb(flags.db, {readonly: true});
    try {
      const c = buildComparison(db, {a: args.a, b: args.b, metric: flags.metric, where: flags.where});
      const json = comparisonJson(c);
      if (this.jsonEnabled()) return json;
      const out =
        flags.format === 'json'
          ? JSON.stringify(json, null, 2) + '\n'
          : flags.format === 'csv'
            ? renderCsv(comparisonCsv(c))
            : flags.format === 'markdown'
              ? renderMarkdown(comparisonTable(c))
              : renderTerminal(comparisonTable(c));
      process.stdout.write(out);
      return json;
    } finally {
      db.close();
    }
  }
}
