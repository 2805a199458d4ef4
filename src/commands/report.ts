import * as fs from 'node:fs';
import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../base-command';
import {FORMATS, METRICS} from '../report/metrics';


export default class Report extends BaseCommand {
  static summary = 'Comparison table of a sweep: one row per variant, seeds folded into mean ± std.';

  static description = `Reads the store (read-only; works while a sweep is running) and prints one row per grid cell with
its swept values, parameters, MACs, final and best test error and final train error as mean ± std over
the seeds that finished (n says how many; n=1 prints no ±). Diverged and failed trials are counted by
name, never averaged in. Errors are in percent.

--pivot ROWS,COLS prints the papers' table shape (e.g. depth × plain/residual). --baseline key=value adds
each variant's difference to its baseline cell (the cell with that value and the same other axes) with
a 95% confidence interval: a paired t-test on the per-seed differences where both ran the same seeds,
Welch's t-test where they did not; * marks an interval that excludes 0, and where the seeds cannot
support an interval (one seed, no spread) the cell says so instead. With --pivot, each compared column
gets a Δ column. --html FILE also writes one self-contained page (no network
needed) with error curves, error vs each numeric axis, vs parameters and vs MACs, and a sortable
per-trial table.`;

  static examples = [
    '<%= config.bin %> report',
    '<%= config.bin %> report depth-sweep --pivot model.depth,model.residual --baseline model.residual=false',
    '<%= config.bin %> report --baseline model.residual=false --sort final_test_err',
    '<%= config.bin %> report --where model.depth=56 --only-changed --format markdown',
    '<%= config.bin %> report --curves',
    '<%= config.bin %> report --html results/report.html',
  ];

  static enableJsonFlag = true;

  static args = {
    sweep: Args.string({description: 'sweep name or id (default: the newest sweep)', required: false}),
  };

  static flags = {
    pivot: Flags.string({description: 'two swept axes as ROWS,COLS, e.g. model.depth,model.residual'}),
    metric: Flags.option({options: METRICS, default: 'final_test_err', description: 'metric of the pivot table, the baseline difference and the plots'})(),
    sort: Flags.string({description: 'sort rows by a metric, a swept axis, params, macs or epochs; prefix - for descending'}),
    where: Flags.string({description: 'keep trials whose swept value or spec value equals this (key=value); repeatable', multiple: true}),
    'only-changed': Flags.boolean({description: 'hide columns whose value is the same in every row', default: false}),
    baseline: Flags.string({description: 'baseline value(s) of some axes (key=value); adds Δ with a 95% CI per variant (paired over shared seeds, else Welch)', multiple: true}),
    format: Flags.option({options: FORMATS, default: 'table', description: 'output format'})(),
    curves: Flags.boolean({description: 'add a sparkline per variant of the error per epoch', default: false}),
    html: Flags.string({description: 'also write a self-contained HTML report with plots to this file'}),
  };

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Report);
    const {openDb} = await import('../store/db');
    const {buildReport} = await import('../report/model');
    const {reportJson, reportPieces} = await import('../report/views');
    const {syncSlurmDb} = await import('../experiments/slurm/sync');
    const warning = await syncSlurmDb(flags.db);
    if (warning) process.stderr.write(`warning: ${warning}\n`);
    const db = openDb(flags.db, {readonly: true});
    try {
      const report = buildReport(db, {
        sweep: args.sweep,
        pivot: flags.pivot,
        metric: flags.metric,
        sort: flags.sort,
        where: flags.where,
        onlyChanged: flags['only-changed'],
        baseline: flags.baseline,
        // Per-epoch rows are read only where they are drawn.
        curves: flags.curves || flags.html !== undefined,
      });
      if (flags.html) {
        const {writeHtmlReport} = await import('../report/html');
        writeHtmlReport(report, flags.html, {configYaml: report.sweep.configYaml});
        process.stderr.write(`wrote ${flags.html}\n`);
      }
      if (this.jsonEnabled()) return reportJson(report);
      const field = flags.metric === 'final_train_err' ? 'trainErr' : 'testErr';
      // Written a piece at a time: the report of a large sweep is megabytes.
      // JSON is indented for a terminal and compact for a pipe or a file (jq reads either).
      writePieces(reportPieces(report, flags.format, {curves: flags.curves, curveField: field, compactJson: !process.stdout.isTTY}));
      return undefined;
    } finally {
      db.close();
    }
  }
}

/**
 * Writes text to standard output through one reused buffer with synchronous writes. process.stdout.write
 * encodes every piece into a fresh Buffer, whose pages are mapped and zeroed anew: about 0.1 s of a 14 MB
 * JSON report written to a file. Files, terminals and shell pipes take synchronous writes; a pipe that a
 * Node.js parent opened non-blocking answers EAGAIN once full, and from then on the rest goes through
 * process.stdout, which waits for its reader. A reader that has gone away (`| head`) ends the output quietly.
 */
function writePieces(pieces: Iterable<string>): void {
  const fd = process.stdout.fd;
  let buf = Buffer.allocUnsafeSlow(1 << 20);
  let direct = true;
  for (const piece of pieces) {
    if (!direct) {
      process.stdout.write(piece);
      continue;
    }
    if (piece.length * 3 > buf.length) buf = Buffer.allocUnsafeSlow(piece.length * 3);
    const n = buf.write(piece, 0, 'utf8');
    for (let off = 0; off < n;) {
      try {
        off += fs.writeSync(fd, buf, off, n - off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') return;
        if (code !== 'EAGAIN') throw e;
        process.stdout.write(Buffer.from(buf.subarray(off, n)));
        direct = false;
        break;
      }
    }
  }
}
