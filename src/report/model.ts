/**
 * The report's data: trials of one sweep folded over seeds into variants (one per grid cell), with
 * statistics per metric, filters (`--where`), ordering (`--sort`), the pivot table (`--pivot`) and
 * differences to a baseline with confidence intervals (`--baseline`: paired over shared seeds, else Welch).
 *
 * Only `done` trials enter the statistics. A diverged trial (NaN loss) is a result of its own and a
 * failed trial is not a result: both are counted and shown by name, never averaged in as numbers.
 * Errors are reported in percent (the store keeps fractions).
 */
import type {Db, TrialStatus} from '../store/db';
import {
  canonicalJson,
  emptyCounts,
  epochsOfSweep,
  resolveSweep,
  specsOfSweep,
  trialSummariesOfSweep,
  type EpochRow,
  type StatusCounts,
  type SweepRow,
  type TrialSummary,
  type VariantValue,
} from '../store/queries';
import {closest, UsageError} from '../errors';
import {compareSeeds, type Difference, type SeedValue, type Summary} from './stats';
import {METRICS, type Metric} from './metrics';
import {percent} from './format';

export {METRICS, type Metric};

export interface MetricInfo {
  /** Column title in tables. */
  title: string;
  /** Unit suffix for titles and machine-readable column names. */
  unit: '%' | '' | 's' | 'img/s';
  higherIsBetter: boolean;
  digits: number;
}

export const METRIC_INFO: Record<Metric, MetricInfo> = {
  final_test_err: {title: 'final test err', unit: '%', higherIsBetter: false, digits: 2},
  best_test_err: {title: 'best test err', unit: '%', higherIsBetter: false, digits: 2},
  final_train_err: {title: 'final train err', unit: '%', higherIsBetter: false, digits: 2},
  final_test_loss: {title: 'final test loss', unit: '', higherIsBetter: false, digits: 4},
  final_train_loss: {title: 'final train loss', unit: '', higherIsBetter: false, digits: 4},
  time: {title: 'train time', unit: 's', higherIsBetter: false, digits: 1},
  images_per_sec: {title: 'images/s', unit: 'img/s', higherIsBetter: true, digits: 1},
};

/** The metrics every variant table shows; `--metric` adds its own when it is another. */
export const TABLE_METRICS: Metric[] = ['final_test_err', 'best_test_err', 'final_train_err'];

export function metricTitle(m: Metric): string {
  const info = METRIC_INFO[m];
  return info.unit ? `${info.title} (${info.unit})` : info.title;
}

/** One point of a training curve, errors in percent; null where the value was NaN/inf or missing. */
export interface CurvePoint {
  epoch: number;
  trainErr: number | null;
  testErr: number | null;
  trainLoss: number | null;
  testLoss: number | null;
}

export interface TrialResult {
  id: number;
  key: string;
  seed: number;
  idx: number;
  status: TrialStatus;
  attempt: number;
  crashes: number;
  error: string | null;
  /** The engine that ran it (after any fallback) and its own description (versions, ...); null if unknown. */
  engine: string | null;
  engineInfo: Record<string, unknown> | null;
  variant: Record<string, VariantValue>;
  variantKey: string;
  params: number | null;
  macs: number | null;
  /** Epoch rows recorded. */
  epochs: number;
  /** Epochs the spec asks for, when the spec says (train.epochs). */
  plannedEpochs: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  values: Record<Metric, number | null>;
  curve: CurvePoint[];
}

export interface BaselineDiff {
  /** The baseline variant this one is compared with (its key), or null if the grid has no such cell. */
  baselineKey: string | null;
  isBaseline: boolean;
  /**
   * This variant minus the baseline on `metric`: paired t over the seeds both ran, else Welch's t; its
   * `ci` is null where the seeds cannot support an interval. Null when either side has no finished value.
   */
  difference: Difference | null;
}

export interface VariantResult {
  key: string;
  variant: Record<string, VariantValue>;
  /** Position of the first trial of this variant in the expanded grid. */
  idx: number;
  trials: TrialResult[];
  counts: StatusCounts;
  params: number | null;
  macs: number | null;
  epochs: {min: number; max: number; planned: number | null};
  /** The engines its trials ran on; more than one means the seeds are not comparable as they stand. */
  engines: string[];
  /** Statistics over the `done` trials. */
  metrics: Record<Metric, Summary | null>;
  baseline?: BaselineDiff;
}

export interface PivotRow {
  /** Values of the row axes, in `rowAxes` order. */
  values: VariantValue[];
  /** One variant per column value (null where the grid has no such cell). */
  cells: (VariantResult | null)[];
}

export interface Pivot {
  rowAxes: string[];
  colAxis: string;
  colValues: VariantValue[];
  rows: PivotRow[];
}

/** One engine (with its versions) and how many of the reported trials it ran. */
export interface EngineUse {
  engine: string;
  versions: Record<string, string>;
  trials: number;
}

export interface ReportOptions {
  /** Sweep name or id; default: the newest sweep. */
  sweep?: string;
  /** `key=value` filters; a key is a swept axis or any dotted path of the resolved trial spec. */
  where?: string[];
  metric?: Metric;
  /** A metric, a swept axis, `params`, `macs` or `epochs`; a leading `-` sorts descending. */
  sort?: string;
  /** `key=value` pairs that pick the baseline value of some axes; the other axes are matched per variant. */
  baseline?: string[];
  /** `ROWS,COLS`: two swept axes. */
  pivot?: string;
  onlyChanged?: boolean;
  /** Read every epoch row for the per-epoch curves (`--curves`, the HTML report); default true. */
  curves?: boolean;
}

export interface Report {
  sweep: Omit<SweepRow, 'configYaml'> & {configYaml?: string};
  /** Every swept axis, in grid order. */
  axes: string[];
  /** Axes shown as columns (all, or those that vary with --only-changed). */
  shownAxes: string[];
  /** Whether params / MACs / epochs columns are shown (with --only-changed they hide when constant). */
  show: {params: boolean; macs: boolean; epochs: boolean};
  metric: Metric;
  where: Record<string, string>;
  variants: VariantResult[];
  counts: StatusCounts;
  /** The engines (name + versions) that produced these numbers; several when they differ. */
  engines: EngineUse[];
  pivot?: Pivot;
  baseline?: Record<string, string>;
  /** Unix ms when the report was built. */
  generatedAt: number;
}

function finite(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The epoch count a trial spec asks for (`train.epochs`), if it says. */
export function plannedEpochs(spec: unknown): number | null {
  const train = (spec as {train?: {epochs?: unknown}} | null)?.train;
  return typeof train?.epochs === 'number' ? train.epochs : null;
}

/** A nested spec as dotted paths: {model: {depth: 20}} -> {"model.depth": 20}; arrays stay whole. */
export function flattenSpec(spec: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
    for (const [k, v] of Object.entries(spec as Record<string, unknown>)) flattenSpec(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = spec;
  }
  return out;
}

/** Whether a stored value equals what a user typed (`20`, `true`, `A`, `1e-4`). */
export function valueMatches(value: unknown, typed: string): boolean {
  if (value === null || value === undefined) return typed === 'null' || typed === '';
  if (typeof value === 'number') return typed.trim() !== '' && Number(typed) === value;
  if (typeof value === 'boolean') return typed.toLowerCase() === String(value);
  if (typeof value === 'string') return value === typed;
  return JSON.stringify(value) === typed;
}

/** Parse `key=value` flags into pairs; a missing `=` is a usage error naming the flag. */
export function parsePairs(items: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    for (const part of item.split(/,(?=[^,=]+=)/)) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`--${flag} expects key=value; received "${part}"`, {hint: `for example: --${flag} model.residual=true`});
      out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
  }
  return out;
}

/**
 * A trial's result from its summary (epochs folded in SQL); `epochs`, the trial's epoch rows in order,
 * give its curve (omitted: no curve).
 */
export function trialResult(t: TrialSummary, epochs?: EpochRow[]): TrialResult {
  let time = finite(t.seconds);
  if (time === null && t.startedAt !== null && t.finishedAt !== null) time = (t.finishedAt - t.startedAt) / 1000;
  const best = finite(t.bestTestErr);
  return {
    id: t.id,
    key: t.key,
    seed: t.seed,
    idx: t.idx,
    status: t.status,
    attempt: t.attempt,
    crashes: t.crashes,
    error: t.error,
    engine: t.engine,
    engineInfo: t.engineInfo,
    variant: t.variant,
    variantKey: t.variantKey,
    params: t.params,
    macs: t.macs,
    epochs: t.epochs,
    plannedEpochs: t.plannedEpochs,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    values: {
      final_test_err: percent(t.last?.testErr),
      best_test_err: best === null ? null : best * 100,
      final_train_err: percent(t.last?.trainErr),
      final_test_loss: finite(t.last?.testLoss),
      final_train_loss: finite(t.last?.trainLoss),
      time,
      images_per_sec: finite(t.imagesPerSec),
    },
    curve: (epochs ?? []).map((e) => ({
      epoch: e.epoch,
      trainErr: percent(e.trainErr),
      testErr: percent(e.testErr),
      trainLoss: finite(e.trainLoss),
      testLoss: finite(e.testLoss),
    })),
  };
}

/**
 * Mean, sample std and n of one metric over the `done` trials of a variant (finite values only); the same
 * numbers as `summarize` of those values, in the same order, without building the lists.
 */
function summarizeDone(ts: readonly TrialResult[], m: Metric): Summary | null {
  let n = 0;
  let sum = 0;
  for (const t of ts) {
    const x = t.values[m];
    if (t.status === 'done' && x !== null && Number.isFinite(x)) {
      n++;
      sum += x;
    }
  }
  if (n === 0) return null;
  const mean = sum / n;
  if (n < 2) return {mean, std: NaN, n};
  let ss = 0;
  for (const t of ts) {
    const x = t.values[m];
    if (t.status === 'done' && x !== null && Number.isFinite(x)) ss += (x - mean) * (x - mean);
  }
  return {mean, std: Math.sqrt(ss / (n - 1)), n};
}

/** Fold trials with equal swept values into variants, in grid order. */
export function foldVariants(trials: TrialResult[]): VariantResult[] {
  const groups = new Map<string, TrialResult[]>();
  for (const t of trials) {
    const g = groups.get(t.variantKey);
    if (g) g.push(t);
    else groups.set(t.variantKey, [t]);
  }
  const out: VariantResult[] = [];
  for (const [key, ts] of groups) {
    const counts = emptyCounts();
    let idx = Infinity;
    let params: number | null = null;
    let macs: number | null = null;
    let planned: number | null = null;
    let anyDone = false;
    let engines: string[] = [];
    for (const t of ts) {
      counts[t.status]++;
      if (t.idx < idx) idx = t.idx;
      if (params === null) params = t.params;
      if (macs === null) macs = t.macs;
      if (planned === null) planned = t.plannedEpochs;
      if (t.status === 'done') anyDone = true;
      if (t.engine !== null && !engines.includes(t.engine)) engines.push(t.engine);
    }
    // Epoch counts of the finished trials (of all, when none finished).
    let min = Infinity;
    let max = -Infinity;
    for (const t of ts) {
      if (anyDone && t.status !== 'done') continue;
      if (t.epochs < min) min = t.epochs;
      if (t.epochs > max) max = t.epochs;
    }
    if (engines.length > 1) engines = engines.sort();
    const metrics = {} as Record<Metric, Summary | null>;
    for (const m of METRICS) metrics[m] = summarizeDone(ts, m);
    out.push({key, variant: ts[0].variant, idx, trials: ts, counts, params, macs, epochs: {min, max, planned}, engines, metrics});
  }
  return out.sort((a, b) => a.idx - b.idx);
}

/** The versions an engine reported, as strings (the engine's own `versions` object). */
export function engineVersions(info: Record<string, unknown> | null): Record<string, string> {
  const v = info?.versions;
  if (!v || typeof v !== 'object') return {};
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
}

/** Distinct (engine, versions) among trials, most used first. */
export function engineUses(trials: readonly TrialResult[]): EngineUse[] {
  const uses = new Map<string, EngineUse>();
  // Trials of one engine usually share one description object: look its key up once.
  const keys = new Map<string, Map<Record<string, unknown> | null, {key: string; versions: Record<string, string>}>>();
  for (const t of trials) {
    if (t.engine === null) continue;
    let byInfo = keys.get(t.engine);
    if (!byInfo) keys.set(t.engine, (byInfo = new Map()));
    let k = byInfo.get(t.engineInfo);
    if (!k) {
      const v = engineVersions(t.engineInfo);
      byInfo.set(t.engineInfo, (k = {key: canonicalJson([t.engine, v]), versions: v}));
    }
    const {key, versions} = k;
    const u = uses.get(key);
    if (u) u.trials++;
    else uses.set(key, {engine: t.engine, versions, trials: 1});
  }
  return [...uses.values()].sort((a, b) => b.trials - a.trials || a.engine.localeCompare(b.engine));
}

/** "native-cpu (oneDNN 2.6.3, tfjs-core 4.22.0, ...)". */
export function engineText(u: Pick<EngineUse, 'engine' | 'versions'>): string {
  const v = Object.entries(u.versions).map(([k, x]) => `${k} ${x}`);
  return v.length > 0 ? `${u.engine} (${v.join(', ')})` : u.engine;
}

/** Swept axes in the order of the grid (first appearance in variant_json). */
export function axesOf(trials: readonly {variant: Record<string, unknown>}[]): string[] {
  const axes: string[] = [];
  let previous: Record<string, unknown> | undefined;
  for (const t of trials) {
    // Seeds of one variant share their variant object and follow each other.
    if (t.variant === previous) continue;
    previous = t.variant;
    for (const k in t.variant) if (!axes.includes(k)) axes.push(k);
  }
  return axes;
}

/** Distinct values of an axis over variants, numbers ascending, others in first-seen order. */
export function axisValues(variants: readonly {variant: Record<string, VariantValue>}[], axis: string): VariantValue[] {
  const seen = new Map<string, VariantValue>();
  for (const v of variants) {
    const val = v.variant[axis] ?? null;
    const k = JSON.stringify(val);
    if (!seen.has(k)) seen.set(k, val);
  }
  const vals = [...seen.values()];
  if (vals.every((v) => typeof v === 'number')) return (vals as number[]).sort((a, b) => a - b);
  if (vals.every((v) => typeof v === 'boolean')) return (vals as boolean[]).sort((a, b) => Number(a) - Number(b));
  return vals;
}

function unknownKey(key: string, known: Iterable<string>, flag: string): UsageError {
  const near = closest(key, known);
  return new UsageError(`--${flag}: "${key}" is not a swept axis or a key of the trial spec${near ? `; did you mean "${near}"?` : ''}`, {
    hint: `swept axes are the columns of ablate report; spec keys are listed by ablate show TRIAL`,
  });
}

function applyWhere(db: Db, sweepId: number, trials: TrialSummary[], where: Record<string, string>): TrialSummary[] {
  let out = trials;
  // Specs are read only for keys that are not swept axes, once per trial.
  let specs: Map<number, unknown> | undefined;
  const flats = new Map<number, Record<string, unknown>>();
  const flatOf = (t: TrialSummary) => {
    let flat = flats.get(t.id);
    if (!flat) flats.set(t.id, (flat = flattenSpec((specs ??= specsOfSweep(db, sweepId)).get(t.id))));
    return flat;
  };
  for (const [key, typed] of Object.entries(where)) {
    const lookup = (t: TrialSummary): {found: boolean; value: unknown} => {
      if (key in t.variant) return {found: true, value: t.variant[key]};
      const flat = flatOf(t);
      return key in flat ? {found: true, value: flat[key]} : {found: false, value: undefined};
    };
    if (!out.some((t) => lookup(t).found)) {
      const known = new Set<string>();
      for (const t of out) {
        Object.keys(t.variant).forEach((k) => known.add(k));
        Object.keys(flatOf(t)).forEach((k) => known.add(k));
      }
      throw unknownKey(key, known, 'where');
    }
    out = out.filter((t) => {
      const {found, value} = lookup(t);
      return found && valueMatches(value, typed);
    });
  }
  return out;
}

function sortKey(v: VariantResult, key: string): number | string | null {
  if ((METRICS as readonly string[]).includes(key)) return v.metrics[key as Metric]?.mean ?? null;
  if (key === 'params') return v.params;
  if (key === 'macs') return v.macs;
  if (key === 'epochs') return v.epochs.max;
  if (key === 'diff') return v.baseline?.difference?.diff ?? null;
  const val = v.variant[key];
  if (val === undefined || val === null) return null;
  return typeof val === 'number' ? val : typeof val === 'boolean' ? Number(val) : String(val);
}

/** Sort variants by `--sort` (missing values last, whichever the direction). */
export function sortVariants(variants: VariantResult[], sort: string, axes: string[]): VariantResult[] {
  const desc = sort.startsWith('-');
  const key = desc ? sort.slice(1) : sort;
  const known = [...METRICS, ...axes, 'params', 'macs', 'epochs', 'diff'];
  if (!known.includes(key)) {
    const near = closest(key, known);
    throw new UsageError(`--sort: unknown key "${key}"${near ? `; did you mean "${near}"?` : ''}`, {hint: `sort by one of: ${known.join(', ')} (prefix - for descending)`});
  }
  return [...variants].sort((a, b) => {
    const x = sortKey(a, key);
    const y = sortKey(b, key);
    if (x === null && y === null) return a.idx - b.idx;
    if (x === null) return 1;
    if (y === null) return -1;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return (desc ? -c : c) || a.idx - b.idx;
  });
}

function checkAxis(axis: string, axes: string[], flag: string): void {
  if (axes.includes(axis)) return;
  const near = closest(axis, axes);
  throw new UsageError(`--${flag}: "${axis}" is not a swept axis of this sweep${near ? `; did you mean "${near}"?` : ''}`, {
    hint: axes.length > 0 ? `swept axes: ${axes.join(', ')}` : 'this sweep sweeps no axis (only seeds)',
  });
}

/**
 * Rows × columns of two swept axes. Axes that also vary but are not named join the row label, so no
 * cell ever hides two variants.
 */
export function buildPivot(variants: VariantResult[], axes: string[], spec: string): Pivot {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length !== 2) throw new UsageError(`--pivot expects ROWS,COLS (two swept axes); received "${spec}"`, {hint: 'for example: --pivot model.depth,model.residual'});
  const [rowAxis, colAxis] = parts;
  checkAxis(rowAxis, axes, 'pivot');
  checkAxis(colAxis, axes, 'pivot');
  if (rowAxis === colAxis) throw new UsageError(`--pivot names ${rowAxis} twice`, {hint: 'name two different axes: ROWS,COLS'});
  const others = axes.filter((a) => a !== rowAxis && a !== colAxis && axisValues(variants, a).length > 1);
  const rowAxes = [rowAxis, ...others];
  const colValues = axisValues(variants, colAxis);
  const rowKeys = new Map<string, PivotRow>();
  // Rows follow the sorted values of the row axis, then first appearance of the other axes.
  const rowOrder = new Map(axisValues(variants, rowAxis).map((v, i) => [JSON.stringify(v), i]));
  const rank = (v: VariantResult) => rowOrder.get(JSON.stringify(v.variant[rowAxis] ?? null)) ?? -1;
  const ordered = [...variants].sort((a, b) => rank(a) - rank(b) || a.idx - b.idx);
  for (const v of ordered) {
    const values = rowAxes.map((a) => v.variant[a] ?? null);
    const k = JSON.stringify(values);
    let row = rowKeys.get(k);
    if (!row) rowKeys.set(k, (row = {values, cells: colValues.map(() => null)}));
    const c = colValues.findIndex((cv) => JSON.stringify(cv) === JSON.stringify(v.variant[colAxis] ?? null));
    row.cells[c] = v;
  }
  return {rowAxes, colAxis, colValues, rows: [...rowKeys.values()]};
}

/** The finished trials' values of a metric, by seed (the input of the paired and Welch tests). */
export function seedValues(v: VariantResult, metric: Metric): SeedValue[] {
  return v.trials
    .filter((t) => t.status === 'done' && t.values[metric] !== null && Number.isFinite(t.values[metric]))
    .map((t) => ({seed: t.seed, value: t.values[metric] as number}));
}

/**
 * Pair each variant with its baseline: the variant that has the baseline's values on the named axes
 * and this variant's values on all others (`--baseline model.residual=false` compares each residual
 * net with the plain net of the same depth; naming every axis picks one baseline for all).
 */
export function applyBaseline(variants: VariantResult[], axes: string[], pairs: Record<string, string>, metric: Metric): void {
  const keys = Object.keys(pairs);
  for (const k of keys) {
    checkAxis(k, axes, 'baseline');
    if (!variants.some((v) => valueMatches(v.variant[k], pairs[k]))) {
      throw new UsageError(`--baseline: no variant has ${k}=${pairs[k]}`, {
        hint: `values of ${k} in this sweep: ${axisValues(variants, k).map((x) => String(x)).join(', ')}`,
      });
    }
  }
  const isBase = (v: VariantResult) => keys.every((k) => valueMatches(v.variant[k], pairs[k]));
  // Baseline cells by their values on the other axes (the first in grid order wins, as a linear search would).
  const others = axes.filter((a) => !keys.includes(a));
  const cellOf = (v: VariantResult) => JSON.stringify(others.map((a) => v.variant[a] ?? null));
  const bases = new Map<string, VariantResult>();
  for (const b of variants) if (isBase(b) && !bases.has(cellOf(b))) bases.set(cellOf(b), b);
  for (const v of variants) {
    const base = bases.get(cellOf(v));
    v.baseline = {
      baselineKey: base?.key ?? null,
      isBaseline: base === v,
      difference: base && base !== v ? compareSeeds(seedValues(v, metric), seedValues(base, metric)) : null,
    };
  }
}

/** Build the report of one sweep from the store. */
export function buildReport(db: Db, opts: ReportOptions = {}): Report {
  const sweep = resolveSweep(db, opts.sweep);
  const metric = opts.metric ?? 'final_test_err';
  if (!(METRICS as readonly string[]).includes(metric)) {
    throw new UsageError(`unknown metric "${metric}"`, {hint: `choose one of: ${METRICS.join(', ')}`});
  }
  const rows = trialSummariesOfSweep(db, sweep.id);
  const allAxes = axesOf(rows);
  const where = parsePairs(opts.where, 'where');
  const kept = applyWhere(db, sweep.id, rows, where);
  if (rows.length > 0 && kept.length === 0) {
    throw new UsageError(`--where ${Object.entries(where).map(([k, v]) => `${k}=${v}`).join(' ')} matches no trial of sweep ${sweep.name}`, {
      hint: 'check the values with: ablate report (without --where)',
    });
  }
  const epochs = opts.curves === false ? undefined : epochsOfSweep(db, sweep.id);
  const trials = kept.map((t) => trialResult(t, epochs ? (epochs.get(t.id) ?? []) : undefined));
  let variants = foldVariants(trials);
  const counts = emptyCounts();
  for (const t of trials) counts[t.status]++;

  const varying = (get: (v: VariantResult) => unknown) => new Set(variants.map((v) => JSON.stringify(get(v) ?? null))).size > 1;
  const shownAxes = opts.onlyChanged ? allAxes.filter((a) => varying((v) => v.variant[a])) : allAxes;
  const show = opts.onlyChanged
    ? {params: varying((v) => v.params), macs: varying((v) => v.macs), epochs: varying((v) => [v.epochs.min, v.epochs.max])}
    : {params: true, macs: true, epochs: true};

  const baselinePairs = opts.baseline && opts.baseline.length > 0 ? parsePairs(opts.baseline, 'baseline') : undefined;
  if (baselinePairs) applyBaseline(variants, allAxes, baselinePairs, metric);
  if (opts.sort) variants = sortVariants(variants, opts.sort, allAxes);
  const pivot = opts.pivot ? buildPivot(variants, allAxes, opts.pivot) : undefined;

  return {
    sweep,
    axes: allAxes,
    shownAxes,
    show,
    metric,
    where,
    variants,
    counts,
    engines: engineUses(trials),
    pivot,
    baseline: baselinePairs,
    generatedAt: Date.now(),
  };
}

/** A label for a variant: "model.depth=20 model.residual=true" (or "(all)" for a sweep without axes). */
export function variantLabel(variant: Record<string, VariantValue>, axes?: string[]): string {
  const keys = axes ?? Object.keys(variant);
  const parts = keys.map((k) => `${shortAxis(k)}=${variant[k] === undefined ? '—' : String(variant[k])}`);
  return parts.length > 0 ? parts.join(' ') : '(all)';
}

/** The last segment of a dotted axis: model.residual -> residual (labels only; tables keep full names). */
export function shortAxis(axis: string): string {
  const i = axis.lastIndexOf('.');
  return i >= 0 ? axis.slice(i + 1) : axis;
}

/** "3 done", "2 done, 1 diverged", "1 running, 2 pending". */
export function countsText(c: StatusCounts): string {
  const order: TrialStatus[] = ['done', 'diverged', 'failed', 'running', 'pending'];
  const parts = order.filter((s) => c[s] > 0).map((s) => `${c[s]} ${s}`);
  return parts.length > 0 ? parts.join(', ') : 'no trials';
}

/** What a metric cell says when no trial of the variant finished: the state of its trials. */
export function noResultText(c: StatusCounts): string {
  if (c.diverged > 0 && c.failed === 0) return c.diverged > 1 ? `diverged (${c.diverged})` : 'diverged';
  if (c.failed > 0 && c.diverged === 0) return c.failed > 1 ? `failed (${c.failed})` : 'failed';
  if (c.failed > 0 && c.diverged > 0) return `${c.diverged} diverged, ${c.failed} failed`;
  if (c.running > 0) return 'running';
  if (c.pending > 0) return 'pending';
  return '—';
}
