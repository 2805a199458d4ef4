/**
 * The report as tables: the variant table (one row per grid cell, seeds folded), the pivot table,
 * and the same data as CSV rows and a JSON document. Formatting lives here; numbers come from model.ts.
 */
import {differenceText, duration, humanCount, summaryCell, valueText, fixed} from './format';
import {
  METRIC_INFO,
  TABLE_METRICS,
  countsText,
  engineText,
  variantLabel,
  metricTitle,
  noResultText,
  type Metric,
  type Report,
  type VariantResult,
} from './model';
import {renderCsv, renderMarkdown, terminalPieces, type CsvTable, type CsvValue, type TextTable, type Align} from './render';
import {renderCurves, type CurveField} from './curves';
import type {Format} from './metrics';
import {excludesZero, type Difference, type Summary} from './stats';

/** The metrics a variant table shows: the standard three plus `--metric` when it is another. */
export function tableMetrics(report: Pick<Report, 'metric'>): Metric[] {
  return TABLE_METRICS.includes(report.metric) ? TABLE_METRICS : [...TABLE_METRICS, report.metric];
}

/** A metric cell: the statistic over finished seeds, with divergences/failures named beside it. */
export function metricCell(v: VariantResult, m: Metric, notes = false): string {
  const s = v.metrics[m];
  if (!s) return noResultText(v.counts);
  const text = m === 'time' ? timeCell(s) : summaryCell(s, METRIC_INFO[m].digits);
  if (!notes) return text;
  const extra = (['diverged', 'failed'] as const).filter((k) => v.counts[k] > 0).map((k) => `${v.counts[k]} ${k}`);
  return extra.length > 0 ? text.replace(/\)$/, `, ${extra.join(', ')})`) : text;
}

function timeCell(s: Summary): string {
  return s.n >= 2 && Number.isFinite(s.std) ? `${duration(s.mean)} ± ${duration(s.std)}` : duration(s.mean);
}

function epochsCell(v: VariantResult): string {
  const e = v.epochs;
  const got = e.min === e.max ? String(e.max) : `${e.min}–${e.max}`;
  return e.planned !== null && e.max !== e.planned ? `${got}/${e.planned}` : got;
}

/** The Δ cell of a variant: "baseline", or its difference with interval, test and star (see differenceText). */
export function diffCell(v: VariantResult, digits: number): string {
  const b = v.baseline;
  if (!b) return '';
  if (b.isBaseline) return 'baseline';
  if (b.baselineKey === null) return 'no baseline cell';
  if (!b.difference) return '—';
  return differenceText(b.difference, digits);
}

/** The legend line under a table with Δ columns. */
export function diffLegend(what: string): string {
  return (
    `Δ = ${what}; [95% CI]: paired t-test on the per-seed differences over the seeds both ran (paired), ` +
    `Welch's t where the seeds differ (Welch); * = interval excludes 0`
  );
}

/** Machine-readable columns of a difference (CSV). */
export const DIFF_CSV_HEAD = ['diff', 'diff_ci_lo', 'diff_ci_hi', 'diff_excludes_0', 'diff_test', 'diff_n_a', 'diff_n_b', 'diff_df', 'diff_p', 'diff_no_ci'];

export function diffCsv(d: Difference | null | undefined): CsvValue[] {
  if (!d) return DIFF_CSV_HEAD.map(() => null);
  return [d.diff, d.ci?.lo ?? null, d.ci?.hi ?? null, excludesZero(d), d.test, d.nA, d.nB, d.ci?.df ?? null, d.ci?.p ?? null, d.reason];
}

/** A difference as JSON: the test, the interval (or null and why not) and whether it excludes 0. */
export function diffJson(d: Difference | null | undefined): unknown {
  if (!d) return null;
  return {
    diff: d.diff,
    test: d.test,
    n: [d.nA, d.nB],
    unpaired: d.unpaired,
    ci95: d.ci ? [d.ci.lo, d.ci.hi] : null,
    excludesZero: excludesZero(d),
    df: d.ci?.df ?? null,
    p: d.ci?.p ?? null,
    noInterval: d.reason,
  };
}

function baselineText(report: Report): string {
  return `${Object.entries(report.baseline ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}, other axes equal`;
}

export function sweepTitle(report: Report): string {
  const where = Object.entries(report.where);
  return `sweep ${report.sweep.name} (#${report.sweep.id}, ${report.sweep.status})${where.length > 0 ? `, where ${where.map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;
}

export function variantTable(report: Report): TextTable {
  const metrics = tableMetrics(report);
  const head: string[] = [...report.shownAxes];
  const align: Align[] = report.shownAxes.map(() => 'left');
  const push = (h: string, a: Align) => {
    head.push(h);
    align.push(a);
  };
  if (report.show.params) push('params', 'right');
  if (report.show.macs) push('MACs', 'right');
  for (const m of metrics) push(metricTitle(m), 'right');
  if (report.baseline) push(`Δ ${METRIC_INFO[report.metric].title} vs baseline [95% CI]`, 'right');
  if (report.show.epochs) push('epochs', 'right');
  push('time', 'right');
  push('trials', 'left');
  const values: CsvValue[][] = [];
  const rows = report.variants.map((v) => {
    const r = report.shownAxes.map((a) => valueText(v.variant[a]));
    const x: CsvValue[] = report.shownAxes.map((a) => v.variant[a] ?? null);
    if (report.show.params) r.push(humanCount(v.params)), x.push(v.params);
    if (report.show.macs) r.push(humanCount(v.macs)), x.push(v.macs);
    for (const m of metrics) r.push(metricCell(v, m)), x.push(v.metrics[m]?.mean ?? null);
    if (report.baseline) r.push(diffCell(v, METRIC_INFO[report.metric].digits)), x.push(v.baseline?.difference?.diff ?? null);
    if (report.show.epochs) r.push(epochsCell(v)), x.push(v.epochs.max);
    // Mean only: the spread of wall time across seeds is noise from the machine, not from the model.
    r.push(duration(v.metrics.time?.mean)), x.push(v.metrics.time?.mean ?? null);
    const trials = countsText(v.counts);
    r.push(trials), x.push(trials);
    values.push(x);
    return r;
  });
  const notes: string[] = ['errors in %, mean ± std over seeds that finished (n); diverged and failed trials are counted, not averaged'];
  notes.push(...engineNotes(report));
  if (report.baseline) {
    notes.push(diffLegend(`variant − baseline (${baselineText(report)})`));
  }
  return {title: sweepTitle(report), head, align, rows, values, notes};
}

/**
 * What the reader must know about engines: a warning for every variant whose trials ran on different
 * engines, and the engines with their versions when there are several.
 */
export function engineNotes(report: Pick<Report, 'variants' | 'engines' | 'axes'>): string[] {
  const notes = report.variants
    .filter((v) => v.engines.length > 1)
    .map((v) => `warning: ${variantLabel(v.variant, report.axes)} mixes engines (${v.engines.join(', ')}); its seeds are not comparable as they stand`);
  if (report.engines.length > 1) notes.push(`engines: ${report.engines.map((u) => `${engineText(u)} × ${u.trials}`).join('; ')}`);
  return notes;
}

/**
 * Columns of the pivot that get a Δ column with --baseline: those with a cell that has a baseline other
 * than itself (with --baseline on the column axis, every column but the baseline's).
 */
function deltaColumns(report: Report): number[] {
  const p = report.pivot;
  if (!p || !report.baseline) return [];
  return p.colValues.map((_, j) => j).filter((j) => p.rows.some((r) => r.cells[j]?.baseline && !r.cells[j]?.baseline?.isBaseline));
}

export function pivotTable(report: Report): TextTable {
  const p = report.pivot;
  if (!p) throw new Error('pivotTable needs a report built with a pivot');
  const deltas = deltaColumns(report);
  const digits = METRIC_INFO[report.metric].digits;
  const head = [
    ...p.rowAxes,
    ...p.colValues.map((c) => `${p.colAxis}=${valueText(c)}`),
    ...deltas.map((j) => `Δ ${p.colAxis}=${valueText(p.colValues[j])} vs baseline [95% CI]`),
  ];
  const align: Align[] = [...p.rowAxes.map((): Align => 'left'), ...p.colValues.map((): Align => 'right'), ...deltas.map((): Align => 'right')];
  const rows = p.rows.map((r) => [
    ...r.values.map(valueText),
    ...r.cells.map((c) => (c ? metricCell(c, report.metric, true) : '—')),
    ...deltas.map((j) => (r.cells[j] ? diffCell(r.cells[j] as VariantResult, digits) : '—')),
  ]);
  const notes = [`rows: ${p.rowAxes.join(' × ')}; columns: ${p.colAxis}`, ...engineNotes(report)];
  if (report.baseline) notes.push(diffLegend(`cell − baseline (${baselineText(report)})`));
  const values = p.rows.map((r): CsvValue[] => [
    ...r.values.map((x) => (Array.isArray(x) ? valueText(x) : x)),
    ...r.cells.map((c) => c?.metrics[report.metric]?.mean ?? null),
    ...deltas.map((j) => r.cells[j]?.baseline?.difference?.diff ?? null),
  ]);
  return {title: `${metricTitle(report.metric)}, mean ± std over seeds — ${sweepTitle(report)}`, head, align, rows, values, notes};
}

function metricColumnName(m: Metric): string {
  const unit = METRIC_INFO[m].unit;
  return unit === '%' ? `${m}_pct` : unit === 's' ? `${m}_s` : m;
}

function statColumns(name: string): string[] {
  return [`${name}_mean`, `${name}_std`, `${name}_n`];
}

function statValues(s: Summary | null): CsvValue[] {
  return s ? [s.mean, s.n >= 2 ? s.std : null, s.n] : [null, null, 0];
}

export function variantCsv(report: Report): CsvTable {
  const metrics = tableMetrics(report);
  const head = [...report.shownAxes];
  if (report.show.params) head.push('params');
  if (report.show.macs) head.push('macs');
  for (const m of metrics) head.push(...statColumns(metricColumnName(m)));
  if (report.baseline) head.push(...DIFF_CSV_HEAD, 'is_baseline');
  if (report.show.epochs) head.push('epochs_min', 'epochs_max', 'epochs_planned');
  head.push(...statColumns('time_s'), 'trials', 'done', 'diverged', 'failed', 'running', 'pending');
  const rows = report.variants.map((v) => {
    const r: CsvValue[] = report.shownAxes.map((a) => v.variant[a] ?? null);
    if (report.show.params) r.push(v.params);
    if (report.show.macs) r.push(v.macs);
    for (const m of metrics) r.push(...statValues(v.metrics[m]));
    if (report.baseline) {
      r.push(...diffCsv(v.baseline?.difference), v.baseline?.isBaseline ?? false);
    }
    if (report.show.epochs) r.push(v.epochs.min, v.epochs.max, v.epochs.planned);
    r.push(...statValues(v.metrics.time));
    r.push(v.trials.length, v.counts.done, v.counts.diverged, v.counts.failed, v.counts.running, v.counts.pending);
    return r;
  });
  return {head, rows};
}

export function pivotCsv(report: Report): CsvTable {
  const p = report.pivot;
  if (!p) throw new Error('pivotCsv needs a report built with a pivot');
  const name = metricColumnName(report.metric);
  const deltas = deltaColumns(report);
  const head = [...p.rowAxes];
  for (const c of p.colValues) head.push(...statColumns(`${p.colAxis}=${valueText(c)}:${name}`));
  for (const j of deltas) head.push(...DIFF_CSV_HEAD.map((h) => `${p.colAxis}=${valueText(p.colValues[j])}:${h}`));
  const rows = p.rows.map((r) => {
    const out: CsvValue[] = [...r.values];
    for (const c of r.cells) out.push(...statValues(c?.metrics[report.metric] ?? null));
    for (const j of deltas) out.push(...diffCsv(r.cells[j]?.baseline?.difference));
    return out;
  });
  return {head, rows};
}

function jsonStat(s: Summary | null): {mean: number; std: number | null; n: number} | null {
  return s ? {mean: s.mean, std: s.n >= 2 && Number.isFinite(s.std) ? s.std : null, n: s.n} : null;
}

/** One variant of the JSON document: its values, statistics, baseline difference and trials. */
function variantJson(v: VariantResult): unknown {
  const metrics: Record<string, unknown> = {};
  for (const k in v.metrics) metrics[k] = jsonStat(v.metrics[k as Metric]);
  return {
    variant: v.variant,
    params: v.params,
    macs: v.macs,
    epochs: v.epochs,
    counts: v.counts,
    engines: v.engines,
    metrics,
    baseline: v.baseline
      ? {isBaseline: v.baseline.isBaseline, found: v.baseline.baselineKey !== null, difference: diffJson(v.baseline.difference)}
      : undefined,
    trials: v.trials.map((t) => ({
      id: t.id, key: t.key, seed: t.seed, status: t.status, epochs: t.epochs, attempt: t.attempt, crashes: t.crashes, error: t.error,
      engine: t.engine, engineInfo: t.engineInfo, values: t.values,
    })),
  };
}

/** The JSON document with `variants` given (the whole list, or a stand-in to be replaced by the text of each). */
function documentJson(report: Report, variants: unknown[]): unknown {
  return {
    sweep: {
      id: report.sweep.id, name: report.sweep.name, status: report.sweep.status, createdAt: report.sweep.createdAt, configPath: report.sweep.configPath,
      engine: report.sweep.engine,
    },
    engines: report.engines,
    units: {err: 'percent', loss: 'nats', time: 'seconds', macs: 'multiply-accumulates per image'},
    axes: report.axes,
    metric: report.metric,
    where: report.where,
    counts: report.counts,
    baseline: report.baseline ?? null,
    variants,
    pivot: report.pivot
      ? {
          rows: report.pivot.rowAxes,
          cols: report.pivot.colAxis,
          colValues: report.pivot.colValues,
          cells: report.pivot.rows.map((r) => ({
            values: r.values,
            cells: r.cells.map((c) => (c ? jsonStat(c.metrics[report.metric]) : null)),
            differences: report.baseline ? r.cells.map((c) => (c?.baseline && !c.baseline.isBaseline ? diffJson(c.baseline.difference) : null)) : undefined,
          })),
        }
      : undefined,
  };
}

/** The report as one JSON document (errors in percent, times in seconds; no per-epoch curves — see `ablate show`). */
export function reportJson(report: Report): unknown {
  return documentJson(report, report.variants.map(variantJson));
}

/**
 * The text of `JSON.stringify(reportJson(report), null, indent)` plus a newline, in pieces: the document's
 * head, then `batch` variants at a time, then its tail. A sweep of thousands of trials is never held whole,
 * as objects or as one string. `indent` 0 is compact JSON (what a pipe or a file gets: about 40% smaller,
 * and made in about half the time); 2 is the indented text a terminal gets.
 */
export function* reportJsonText(report: Report, {indent = 2, batch = 256}: {indent?: 0 | 2; batch?: number} = {}): Generator<string> {
  const outer = JSON.stringify(documentJson(report, []), null, indent) + '\n';
  const slot = indent ? '\n  "variants": []' : '"variants":[]';
  const at = outer.indexOf(slot);
  if (report.variants.length === 0 || at < 0) {
    yield outer;
    return;
  }
  yield outer.slice(0, at) + (indent ? '\n  "variants": [\n' : '"variants":[');
  // Variants inside {"v": [...]} indented by two get the indentation they have in the document (four spaces).
  const open = (indent ? '{\n  "v": [\n' : '{"v":[').length;
  const close = (indent ? '\n  ]\n}' : ']}').length;
  const separator = indent ? ',\n' : ',';
  for (let i = 0; i < report.variants.length; i += batch) {
    const text = JSON.stringify({v: report.variants.slice(i, i + batch).map(variantJson)}, null, indent);
    // Separate pieces, not joined: a concatenated string is copied whole again when it is written out.
    if (i > 0) yield separator;
    yield text.slice(open, text.length - close);
  }
  yield (indent ? '\n  ]' : ']') + outer.slice(at + slot.length);
}

/** Per-trial rows (for the HTML trial table and `--format csv` of trials). */
export function trialRows(report: Report): {head: string[]; rows: {text: string[]; values: CsvValue[]}[]} {
  const head = ['trial', 'key', ...report.axes, 'seed', 'status', 'epochs', 'final test err (%)', 'best test err (%)', 'final train err (%)', 'time', 'params', 'MACs', 'engine', 'error'];
  const rows = report.variants.flatMap((v) =>
    v.trials.map((t) => {
      const values: CsvValue[] = [
        t.id,
        t.key.slice(0, 8),
        ...report.axes.map((a) => t.variant[a] ?? null),
        t.seed,
        t.status,
        t.epochs,
        t.values.final_test_err,
        t.values.best_test_err,
        t.values.final_train_err,
        t.values.time,
        t.params,
        t.macs,
        t.engine,
        t.error ? t.error.split('\n')[0] : '',
      ];
      const text = values.map((x, i) => {
        const h = head[i];
        if (h.endsWith('(%)')) return fixed(x as number | null);
        if (h === 'time') return duration(x as number | null);
        if (h === 'params' || h === 'MACs') return humanCount(x as number | null);
        return valueText(x);
      });
      return {text, values};
    }),
  );
  return {head, rows};
}

export {FORMATS, type Format} from './metrics';

/**
 * The report as text in one format. With a pivot, the pivot table replaces the variant table
 * (JSON carries both); `curves` appends the per-variant sparklines to table and Markdown output.
 */
export function renderReport(report: Report, format: Format, opts: {curves?: boolean; curveField?: CurveField; compactJson?: boolean} = {}): string {
  return [...reportPieces(report, format, opts)].join('');
}

/** The text of `renderReport` in pieces, for writing a large report as it is made. */
export function* reportPieces(report: Report, format: Format, opts: {curves?: boolean; curveField?: CurveField; compactJson?: boolean} = {}): Generator<string> {
  if (format === 'json') {
    yield* reportJsonText(report, {indent: opts.compactJson ? 0 : 2});
    return;
  }
  if (format === 'csv') {
    yield renderCsv(report.pivot ? pivotCsv(report) : variantCsv(report));
    return;
  }
  const table = report.pivot ? pivotTable(report) : variantTable(report);
  if (format === 'markdown') yield renderMarkdown(table);
  else yield* terminalPieces(table);
  if (opts.curves) {
    const curves = renderCurves(report, opts.curveField ?? 'testErr');
    yield format === 'markdown' ? `\n\`\`\`text\n${curves}\`\`\`\n` : `\n${curves}`;
  }
}
