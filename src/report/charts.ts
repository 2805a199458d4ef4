/**
 * Plot specifications for the HTML report, computed here so that the page only draws them (and tests
 * can count series without a browser):
 * - error curves per variant, test solid and train dashed, mean over seeds with a ±1 std band,
 *   one panel per value of a small axis such as plain/residual (He et al. 2016, Fig. 6);
 * - the final metric against each swept numeric axis, one line per value of the other axes
 *   (e.g. test error vs depth: one line plain, one residual; He et al. Table 6 drawn as a plot);
 * - the final metric against parameters and against MACs (log x), one line per value of the
 *   non-numeric axes (Zagoruyko & Komodakis Fig. 4 / Xie et al. Table 3 style comparisons).
 */
import {mean, sampleStd} from './stats';
import {METRIC_INFO, axisValues, metricTitle, shortAxis, type Metric, type Report, type VariantResult} from './model';
import type {VariantValue} from '../store/queries';

export interface Point {
  x: number;
  y: number | null;
  /** The variant this point shows: its position in `report.variants` (the page's tooltip names it). */
  v?: number;
}

export interface SeriesSpec {
  label: string;
  /** `mean` is a drawn line with a legend entry; `band-lo`/`band-hi` bound the shaded ±1 std area. */
  role: 'mean' | 'band-lo' | 'band-hi';
  /** Which curve a series belongs to (curves charts): test solid, train dashed. */
  curve?: 'test' | 'train';
  color: string;
  dashed: boolean;
  /** Show in the legend (train lines share their test line's colour, so only test lines are listed). */
  legend: boolean;
  /** Draw points only, without a line through them (series of many points). */
  pointsOnly?: boolean;
  points: Point[];
}

export interface ChartSpec {
  id: string;
  kind: 'curves' | 'axis' | 'params' | 'macs';
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  xType: 'linear' | 'logarithmic';
  /** Fixed y range where the data alone would squash what matters (curves start near chance level). */
  yMin?: number;
  yMax?: number;
  /** Fixed x range (curves: first to last epoch, so that a y range does not trim the x axis). */
  xMin?: number;
  xMax?: number;
  series: SeriesSpec[];
}

/**
 * Beyond this many lines a chart is a tangle: curves show the best variants only, and metric plots
 * average over the axes that would split them further.
 */
export const MAX_LINES = 10;
/** A series with more points than this is drawn as points (a line through a cloud says nothing). */
const MAX_LINE_POINTS = 60;

/** Tableau 10: distinguishable, and still readable when printed in grey. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function labelOf(variant: Record<string, VariantValue>, axes: string[]): string {
  const parts = axes.map((a) => `${shortAxis(a)}=${String(variant[a])}`);
  return parts.length > 0 ? parts.join(' ') : 'all';
}

/** Axes whose value differs between variants. */
export function varyingAxes(report: Pick<Report, 'axes' | 'variants'>): string[] {
  return report.axes.filter((a) => axisValues(report.variants, a).length > 1);
}

/** Axes whose values are all numbers (and vary): these get an "error vs axis" plot. */
export function numericAxes(report: Pick<Report, 'axes' | 'variants'>): string[] {
  return varyingAxes(report).filter((a) => report.variants.every((v) => typeof v.variant[a] === 'number'));
}

/**
 * The axis whose values split the curves into panels: the varying axis with the fewest values
 * (ties: a boolean such as plain/residual, then the later axis), when there are at least two varying
 * axes and it has at most four values.
 */
export function facetAxis(report: Pick<Report, 'axes' | 'variants'>): string | undefined {
  const axes = varyingAxes(report);
  if (axes.length < 2) return undefined;
  const ranked = axes
    .map((a, i) => ({a, i, n: axisValues(report.variants, a).length, bool: report.variants.every((v) => typeof v.variant[a] === 'boolean')}))
    .sort((x, y) => x.n - y.n || Number(y.bool) - Number(x.bool) || y.i - x.i);
  return ranked[0].n <= 4 ? ranked[0].a : undefined;
}

interface EpochStat {
  epoch: number;
  mean: number | null;
  std: number | null;
}

/** Per-epoch mean and std over a variant's trials of one curve (NaN/missing epochs skipped). */
export function epochStats(v: VariantResult, field: 'testErr' | 'trainErr'): EpochStat[] {
  const byEpoch = new Map<number, number[]>();
  for (const t of v.trials) {
    for (const p of t.curve) {
      const val = p[field];
      if (!byEpoch.has(p.epoch)) byEpoch.set(p.epoch, []);
      if (val !== null && Number.isFinite(val)) byEpoch.get(p.epoch)!.push(val);
    }
  }
  return [...byEpoch.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([epoch, vals]) => ({epoch, mean: vals.length > 0 ? mean(vals) : null, std: vals.length > 1 ? sampleStd(vals) : null}));
}

function bandSeries(label: string, color: string, stats: {x: number; mean: number | null; std: number | null}[], curve?: 'test' | 'train'): SeriesSpec[] {
  if (!stats.some((s) => s.std !== null)) return [];
  const at = (s: (typeof stats)[number], sign: number): Point => ({x: s.x, y: s.mean !== null && s.std !== null ? s.mean + sign * s.std : null});
  return [
    {label: `${label} −1 std`, role: 'band-lo', curve, color, dashed: false, legend: false, points: stats.map((s) => at(s, -1))},
    {label: `${label} +1 std`, role: 'band-hi', curve, color, dashed: false, legend: false, points: stats.map((s) => at(s, 1))},
  ];
}

function curveCharts(report: Report): ChartSpec[] {
  const facet = facetAxis(report);
  const others = varyingAxes(report).filter((a) => a !== facet);
  // Colour by the non-facet values, so depth 56 has one colour in the plain and the residual panel.
  const colorKeys: string[] = [];
  const colorOf = (v: VariantResult) => {
    const k = JSON.stringify(others.map((a) => v.variant[a]));
    if (!colorKeys.includes(k)) colorKeys.push(k);
    return PALETTE[colorKeys.indexOf(k) % PALETTE.length];
  };
  const panels: {title: string; variants: VariantResult[]}[] = facet
    ? axisValues(report.variants, facet).map((val) => ({
        title: `${facet} = ${String(val)}`,
        variants: report.variants.filter((v) => JSON.stringify(v.variant[facet] ?? null) === JSON.stringify(val)),
      }))
    : [{title: 'all variants', variants: report.variants}];
  const metric = report.metric;
  const sign = METRIC_INFO[metric].higherIsBetter ? -1 : 1;
  const charts = panels.map((panel, i) => {
    const series: SeriesSpec[] = [];
    let shown = panel.variants.filter((v) => v.trials.some((t) => t.curve.length > 0));
    const total = shown.length;
    if (total > MAX_LINES) {
      // The best variants by the report's metric, drawn in grid order.
      const score = (v: VariantResult) => v.metrics[metric]?.mean ?? null;
      const best = new Set(
        [...shown]
          .sort((a, b) => (score(a) === null ? 1 : score(b) === null ? -1 : sign * (score(a)! - score(b)!)) || a.idx - b.idx)
          .slice(0, MAX_LINES),
      );
      shown = shown.filter((v) => best.has(v));
    }
    for (const v of shown) {
      if (!v.trials.some((t) => t.curve.length > 0)) continue;
      const color = colorOf(v);
      const label = labelOf(v.variant, others);
      for (const curve of ['test', 'train'] as const) {
        const stats = epochStats(v, curve === 'test' ? 'testErr' : 'trainErr').map((s) => ({x: s.epoch, mean: s.mean, std: s.std}));
        series.push(...bandSeries(`${label} ${curve}`, color, stats, curve));
        series.push({
          label: `${label} ${curve}`,
          role: 'mean',
          curve,
          color,
          dashed: curve === 'train',
          legend: curve === 'test',
          points: stats.map((s) => ({x: s.x, y: s.mean})),
        });
      }
    }
    return {
      id: `curves-${i}`,
      ...curveRange(series),
      kind: 'curves' as const,
      title: facet ? `Error curves, ${panel.title}` : 'Error curves',
      subtitle: `${total > MAX_LINES ? `the ${MAX_LINES} best of ${total} variants by ${metricTitle(metric)}; ` : ''}mean over seeds, band ±1 std; solid: test, dashed: train`,
      xLabel: 'epoch',
      yLabel: 'error (%)',
      xType: 'linear' as const,
      series,
    };
  });
  return charts.filter((c) => c.series.length > 0);
}

/**
 * Error curves start near chance (90 % for 10 classes) and end near the final errors that differ by a
 * few points; like He et al. Fig. 6 (0–20 %), show 0 to about twice the highest final error so the
 * ends are readable, unless the curves are too short to have come down.
 */
function curveRange(series: SeriesSpec[]): {yMin?: number; yMax?: number; xMin?: number; xMax?: number} {
  const means = series.filter((s) => s.role === 'mean');
  const all = means.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null);
  if (all.length === 0) return {};
  const xs = means.flatMap((s) => s.points.map((p) => p.x));
  const x = {xMin: Math.min(...xs), xMax: Math.max(...xs)};
  const finals = means.map((s) => [...s.points].reverse().find((p) => p.y !== null)?.y).filter((y): y is number => typeof y === 'number');
  const top = Math.max(...all);
  const wanted = Math.max(...finals) * 2;
  if (wanted >= top * 0.8) return {...x, yMin: 0};
  const step = wanted > 20 ? 10 : wanted > 10 ? 5 : 2;
  return {...x, yMin: 0, yMax: Math.min(100, Math.ceil(wanted / step) * step)};
}

/** Log x only when the values span a decade or more; otherwise a log axis just crowds its ticks. */
function xScaleFor(values: number[]): 'linear' | 'logarithmic' {
  const pos = values.filter((v) => v > 0);
  return pos.length > 1 && Math.max(...pos) / Math.min(...pos) >= 10 ? 'logarithmic' : 'linear';
}

/**
 * Lines of a metric against x, one per value of `groupAxes`. Too many lines (more than MAX_LINES) are
 * folded: one line per value of `fallbackAxes` whose points are the mean over the variants at that x,
 * with a band of ±1 std across them. Points carry their variant's position in `variants`.
 */
function metricSeries(
  variants: VariantResult[], metric: Metric, groupAxes: string[], fallbackAxes: string[], x: (v: VariantResult) => number | null, withBand: boolean,
): {series: SeriesSpec[]; folded: boolean} {
  const index = new Map(variants.map((v, i) => [v, i]));
  const groupBy = (axes: string[]) => {
    const groups = new Map<string, VariantResult[]>();
    for (const v of variants) {
      const k = JSON.stringify(axes.map((a) => v.variant[a] ?? null));
      const g = groups.get(k);
      if (g) g.push(v);
      else groups.set(k, [v]);
    }
    return groups;
  };
  let groups = groupBy(groupAxes);
  const folded = groups.size > MAX_LINES;
  let axes = groupAxes;
  if (folded) {
    axes = fallbackAxes;
    groups = groupBy(axes);
  }
  const out: SeriesSpec[] = [];
  let i = 0;
  for (const vs of groups.values()) {
    const color = PALETTE[i++ % PALETTE.length];
    const label = axes.length > 0 ? labelOf(vs[0].variant, axes) : 'all variants';
    const pts = vs
      .map((v) => ({v, x: x(v), s: v.metrics[metric]}))
      .filter((p): p is {v: VariantResult; x: number; s: NonNullable<typeof p.s>} => p.x !== null && p.s !== null)
      .sort((a, b) => a.x - b.x);
    if (pts.length === 0) continue;
    if (folded && withBand) {
      // Mean over the variants that share an x value; the band is their spread, not the seeds'.
      const byX = new Map<number, number[]>();
      for (const p of pts) {
        const l = byX.get(p.x);
        if (l) l.push(p.s.mean);
        else byX.set(p.x, [p.s.mean]);
      }
      const stats = [...byX].map(([px, ys]) => ({x: px, mean: mean(ys), std: ys.length > 1 ? sampleStd(ys) : null}));
      out.push(...bandSeries(label, color, stats));
      out.push({label, role: 'mean', color, dashed: false, legend: true, points: stats.map((p) => ({x: p.x, y: p.mean}))});
      continue;
    }
    if (withBand) out.push(...bandSeries(label, color, pts.map((p) => ({x: p.x, mean: p.s.mean, std: p.s.n > 1 ? p.s.std : null}))));
    out.push({
      label,
      role: 'mean',
      color,
      dashed: false,
      legend: true,
      pointsOnly: pts.length > MAX_LINE_POINTS || undefined,
      points: pts.map((p) => ({x: p.x, y: p.s.mean, v: index.get(p.v)})),
    });
  }
  return {series: out, folded};
}

/** Tooltip text of each variant's point in the metric plots: its varying axes and the statistic. */
export function pointLabels(report: Pick<Report, 'axes' | 'variants' | 'metric'>): string[] {
  const axes = varyingAxes(report);
  return report.variants.map((v) => {
    const s = v.metrics[report.metric];
    return `${labelOf(v.variant, axes)}: ${s ? `${s.mean.toFixed(2)}${s.n > 1 ? ` ± ${s.std.toFixed(2)}` : ''} (n=${s.n})` : '—'}`;
  });
}

/** Every plot of the HTML report, in page order. */
export function chartSpecs(report: Report): ChartSpec[] {
  const charts = curveCharts(report);
  const metric = report.metric;
  const varying = varyingAxes(report);
  const facet = facetAxis(report);
  const numeric = numericAxes(report);
  for (const axis of numeric) {
    const others = varying.filter((a) => a !== axis);
    const fallback = facet !== undefined && facet !== axis ? [facet] : [];
    const {series, folded} = metricSeries(report.variants, metric, others, fallback, (v) => v.variant[axis] as number, true);
    charts.push({
      id: `axis-${charts.length}`,
      kind: 'axis',
      title: `${metricTitle(metric)} vs ${axis}`,
      subtitle: folded
        ? `mean over ${others.filter((a) => !fallback.includes(a)).join(' × ')}${fallback.length > 0 ? `, one line per ${fallback.join(' × ')}` : ''}; band ±1 std across those variants`
        : others.length > 0 ? `one line per ${others.join(' × ')}; band ±1 std over seeds` : 'band ±1 std over seeds',
      xLabel: axis,
      yLabel: metricTitle(metric),
      xType: 'linear',
      series,
    });
  }
  const categorical = varying.filter((a) => !numeric.includes(a));
  for (const [kind, title, get] of [
    ['params', 'parameters', (v: VariantResult) => v.params],
    ['macs', 'MACs per image', (v: VariantResult) => v.macs],
  ] as const) {
    const xs = report.variants.map(get).filter((x): x is number => x !== null && x > 0);
    if (xs.length === 0) continue;
    const xType = xScaleFor(xs);
    const fallback = facet !== undefined && categorical.includes(facet) ? [facet] : [];
    const {series, folded} = metricSeries(report.variants, metric, categorical, fallback, (v) => (get(v) !== null && (get(v) as number) > 0 ? (get(v) as number) : null), false);
    const lines = folded ? fallback : categorical;
    charts.push({
      id: `${kind}-${charts.length}`,
      kind,
      title: `${metricTitle(metric)} vs ${title}`,
      subtitle: `${lines.length > 0 ? `one line per ${lines.join(' × ')}` : 'all variants'}${xType === 'logarithmic' ? '; log scale' : ''}`,
      xLabel: title,
      yLabel: metricTitle(metric),
      xType,
      series,
    });
  }
  return charts;
}
