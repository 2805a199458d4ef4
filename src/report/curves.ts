/**
 * Training curves in the terminal: one sparkline per variant of the mean error per epoch over seeds,
 * on one shared scale so that lines compare (the terminal cousin of He et al. Fig. 6).
 */
import {mean} from './stats';
import {variantLabel, type CurvePoint, type Report, type VariantResult} from './model';

const BARS = '▁▂▃▄▅▆▇█';
/** Drawn where every seed has a NaN/inf or missing value at that epoch (e.g. after divergence). */
const GAP = '×';

export type CurveField = 'testErr' | 'trainErr';

/** Mean over the variant's trials (any state) of `field` per epoch; null where no trial has a finite value. */
export function meanCurve(v: VariantResult, field: CurveField): (number | null)[] {
  const len = Math.max(0, ...v.trials.map((t) => t.curve.length === 0 ? 0 : t.curve[t.curve.length - 1].epoch));
  const out: (number | null)[] = [];
  for (let e = 1; e <= len; e++) {
    const vals = v.trials
      .map((t) => t.curve.find((p: CurvePoint) => p.epoch === e)?.[field])
      .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    out.push(vals.length > 0 ? mean(vals) : null);
  }
  return out;
}

/** Average consecutive epochs into at most `width` buckets (so 160 epochs fit on a line). */
export function downsample(values: (number | null)[], width: number): (number | null)[] {
  if (values.length <= width) return values;
  const out: (number | null)[] = [];
  for (let i = 0; i < width; i++) {
    const from = Math.floor((i * values.length) / width);
    const to = Math.floor(((i + 1) * values.length) / width);
    const vals = values.slice(from, to).filter((x): x is number => x !== null);
    out.push(vals.length > 0 ? mean(vals) : null);
  }
  return out;
}

/** Sparkline of values on the scale [lo, hi]: low values are low bars. */
export function sparkline(values: (number | null)[], lo: number, hi: number): string {
  const span = hi - lo;
  return values
    .map((v) => {
      if (v === null) return GAP;
      const f = span > 0 ? (v - lo) / span : 0.5;
      return BARS[Math.max(0, Math.min(BARS.length - 1, Math.round(f * (BARS.length - 1))))];
    })
    .join('');
}

/** The `--curves` block: header with the scale, then one line per variant. */
export function renderCurves(report: Report, field: CurveField = 'testErr', width = 48): string {
  const curves = report.variants.map((v) => ({v, values: downsample(meanCurve(v, field), width), full: meanCurve(v, field)}));
  const all = curves.flatMap((c) => c.values).filter((x): x is number => x !== null);
  const what = field === 'testErr' ? 'test error' : 'train error';
  if (all.length === 0) return `${what} curves: no epochs recorded yet\n`;
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const labels = curves.map((c) => variantLabel(c.v.variant, report.shownAxes.length > 0 ? report.shownAxes : undefined));
  const pad = Math.max(...labels.map((l) => l.length));
  const lines = [`${what} (%) per epoch, mean over seeds; scale ${lo.toFixed(1)} (${BARS[0]}) … ${hi.toFixed(1)} (${BARS[BARS.length - 1]}); ${GAP} = no finite value`];
  curves.forEach((c, i) => {
    const finite = c.full.filter((x): x is number => x !== null);
    const first = finite.length > 0 ? finite[0].toFixed(1) : '—';
    const lastVal = c.full.length > 0 ? c.full[c.full.length - 1] : null;
    const end = lastVal === null ? (c.full.length > 0 ? 'NaN' : '—') : lastVal.toFixed(1);
    const state = c.v.counts.diverged > 0 ? ` (${c.v.counts.diverged} diverged)` : '';
    const spark = c.values.length > 0 ? sparkline(c.values, lo, hi) : '(no epochs)';
    lines.push(`${labels[i].padEnd(pad)}  ${spark.padEnd(Math.min(width, Math.max(...curves.map((x) => x.values.length))))}  ${first} → ${end}  ${c.full.length} ep${state}`);
  });
  return lines.join('\n') + '\n';
}
