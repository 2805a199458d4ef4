/**
 * `ablate compare A B`: the same variants of two sweeps side by side (e.g. two datasets, two engines,
 * a rerun), with B − A and a 95 % interval per variant (paired over the seeds both sweeps ran, else Welch),
 * and the settings in which the sweeps differ.
 */
import type {Db} from '../store/db';
import {canonicalJson} from '../store/queries';
import {UsageError} from '../errors';
import {differenceText, duration, valueText} from './format';
import {buildReport, flattenSpec, METRIC_INFO, metricTitle, seedValues, type Metric, type Report, type VariantResult} from './model';
import type {CsvTable, CsvValue, TextTable, Align} from './render';
import {compareSeeds, type Difference} from './stats';
import {DIFF_CSV_HEAD, diffCsv, diffJson, diffLegend, metricCell} from './views';

export interface CompareOptions {
  a: string;
  b: string;
  metric?: Metric;
  where?: string[];
}

export interface CompareRow {
  /** Values of the matching axes. */
  variant: Record<string, unknown>;
  a: VariantResult | null;
  b: VariantResult | null;
  /** B − A on the metric (paired over shared seeds, else Welch); null unless both have a finished value. */
  difference: Difference | null;
}

export interface SettingDiff {
  key: string;
  a: unknown;
  b: unknown;
}

export interface Comparison {
  a: Report;
  b: Report;
  metric: Metric;
  /** Axes the rows are matched on. */
  axes: string[];
  rows: CompareRow[];
  /** Settings outside the swept axes whose values differ between the sweeps (e.g. dataset.name). */
  settings: SettingDiff[];
}

function pick(variant: Record<string, unknown>, axes: string[]): Record<string, unknown> {
  return Object.fromEntries(axes.map((a) => [a, variant[a] ?? null]));
}

/** Is each variant of the report alone under its values on `axes`? */
function unique(r: Report, axes: string[]): boolean {
  const keys = r.variants.map((v) => canonicalJson(pick(v.variant, axes)));
  return new Set(keys).size === keys.length;
}

export function buildComparison(db: Db, opts: CompareOptions): Comparison {
  const metric = opts.metric ?? 'final_test_err';
  const a = buildReport(db, {sweep: opts.a, metric, where: opts.where});
  const b = buildReport(db, {sweep: opts.b, metric, where: opts.where});
  if (a.sweep.id === b.sweep.id) {
    throw new UsageError(`compare needs two different sweeps; both name sweep ${a.sweep.name} (#${a.sweep.id})`, {
      hint: 'list the sweeps with: ablate status',
    });
  }
  // Match on the axes both sweeps share, unless that would put two variants in one row.
  const shared = a.axes.filter((x) => b.axes.includes(x));
  const axes = unique(a, shared) && unique(b, shared) ? shared : [...new Set([...a.axes, ...b.axes])];
  const rows = new Map<string, CompareRow>();
  const add = (v: VariantResult, side: 'a' | 'b') => {
    const variant = pick(v.variant, axes);
    const k = canonicalJson(variant);
    let row = rows.get(k);
    if (!row) rows.set(k, (row = {variant, a: null, b: null, difference: null}));
    row[side] = v;
  };
  a.variants.forEach((v) => add(v, 'a'));
  b.variants.forEach((v) => add(v, 'b'));
  for (const row of rows.values()) {
    if (row.a && row.b) row.difference = compareSeeds(seedValues(row.b, metric), seedValues(row.a, metric));
  }
  return {a, b, metric, axes, rows: [...rows.values()], settings: settingDiffs(db, a, b)};
}

/** Settings outside the swept axes (and the seed) in which the two sweeps' first trials differ. */
export function settingDiffs(db: Db, a: Report, b: Report): SettingDiff[] {
  const spec = (r: Report): Record<string, unknown> => {
    const t = r.variants[0]?.trials[0];
    if (!t) return {};
    const row = db.prepare('SELECT spec_json AS spec FROM trials WHERE id = ?').get(t.id) as {spec: string} | undefined;
    return row ? flattenSpec(JSON.parse(row.spec)) : {};
  };
  const sa = spec(a);
  const sb = spec(b);
  const skip = new Set([...a.axes, ...b.axes, 'seed']);
  const keys = [...new Set([...Object.keys(sa), ...Object.keys(sb)])].filter((k) => !skip.has(k));
  return keys
    .filter((k) => canonicalJson(sa[k] ?? null) !== canonicalJson(sb[k] ?? null))
    .map((k) => ({key: k, a: sa[k] ?? null, b: sb[k] ?? null}));
}

function sideName(r: Report, other: Report): string {
  return r.sweep.name === other.sweep.name ? `${r.sweep.name} #${r.sweep.id}` : r.sweep.name;
}

function diffText(row: CompareRow, digits: number): string {
  if (row.difference === null) return row.a && row.b ? '—' : 'only in one sweep';
  return differenceText(row.difference, digits);
}

function cell(v: VariantResult | null, m: Metric): string {
  if (!v) return '—';
  if (m === 'time') return duration(v.metrics.time?.mean);
  return v.metrics[m] ? metricCell(v, m, true) : metricCell(v, m);
}

export function comparisonTable(c: Comparison): TextTable {
  const info = METRIC_INFO[c.metric];
  const an = sideName(c.a, c.b);
  const bn = sideName(c.b, c.a);
  const head = [...c.axes, `A: ${an}`, `B: ${bn}`, 'Δ B − A [95% CI]'];
  const align: Align[] = [...c.axes.map((): Align => 'left'), 'right', 'right', 'right'];
  const rows = c.rows.map((r) => [...c.axes.map((x) => valueText(r.variant[x])), cell(r.a, c.metric), cell(r.b, c.metric), diffText(r, info.digits)]);
  const notes = [`${metricTitle(c.metric)}, mean ± std over seeds (n)`, diffLegend('B − A')];
  if (c.settings.length > 0) notes.push(`the sweeps differ in: ${c.settings.map((s) => `${s.key} ${valueText(s.a)} → ${valueText(s.b)}`).join('; ')}`);
  return {title: `compare ${an} (#${c.a.sweep.id}) with ${bn} (#${c.b.sweep.id})`, head, align, rows, notes};
}

export function comparisonCsv(c: Comparison): CsvTable {
  const name = METRIC_INFO[c.metric].unit === '%' ? `${c.metric}_pct` : c.metric;
  const head = [...c.axes];
  for (const side of ['a', 'b']) head.push(`${side}_${name}_mean`, `${side}_${name}_std`, `${side}_${name}_n`, `${side}_diverged`, `${side}_failed`);
  head.push(...DIFF_CSV_HEAD);
  const rows = c.rows.map((r) => {
    const out: CsvValue[] = c.axes.map((x) => r.variant[x] as CsvValue);
    for (const v of [r.a, r.b]) {
      const s = v?.metrics[c.metric];
      out.push(s?.mean ?? null, s && s.n >= 2 ? s.std : null, s?.n ?? 0, v?.counts.diverged ?? null, v?.counts.failed ?? null);
    }
    out.push(...diffCsv(r.difference));
    return out;
  });
  return {head, rows};
}

export function comparisonJson(c: Comparison): unknown {
  const stat = (v: VariantResult | null) => {
    const s = v?.metrics[c.metric];
    return v ? {mean: s?.mean ?? null, std: s && s.n >= 2 ? s.std : null, n: s?.n ?? 0, counts: v.counts} : null;
  };
  return {
    a: {id: c.a.sweep.id, name: c.a.sweep.name},
    b: {id: c.b.sweep.id, name: c.b.sweep.name},
    metric: c.metric,
    units: {err: 'percent'},
    axes: c.axes,
    settings: c.settings,
    rows: c.rows.map((r) => ({
      variant: r.variant,
      a: stat(r.a),
      b: stat(r.b),
      difference: diffJson(r.difference),
    })),
  };
}
