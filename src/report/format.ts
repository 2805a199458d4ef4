/**
 * Number formatting shared by every renderer: counts in the papers' units (0.27M params, 41M MACs),
 * errors in percent, mean ± std cells that say n, durations.
 */
import {excludesZero, testLabel, type Difference, type Summary} from './stats';

/**
 * Parameter and MAC counts the way the papers print them: 269,722 -> "0.27M", 40.8M -> "41M",
 * 1.73M -> "1.7M", 11.6G -> "12G". Two significant digits below 10 of the unit, integers above.
 */
export function humanCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e5, 'M'], // 0.1M and up reads as M (He et al. Table 6: 0.27M ... 1.7M)
    [1e3, 'K'],
  ];
  for (const [scale, suffix] of units) {
    if (abs >= scale) {
      const unit = suffix === 'M' ? 1e6 : scale;
      return `${scaled(n / unit)}${suffix}`;
    }
  }
  return String(Math.round(n));
}

function scaled(v: number): string {
  const a = Math.abs(v);
  if (a >= 9.95) return String(Math.round(v));
  if (a >= 0.995) return v.toFixed(1);
  return v.toFixed(2);
}

/** A number with fixed decimals, or a dash for missing values. */
export function fixed(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** An error stored as a fraction (0.0831), in percent (8.31); null where it is missing or not finite. */
export function percent(fraction: number | null | undefined): number | null {
  return fraction === null || fraction === undefined || !Number.isFinite(fraction) ? null : fraction * 100;
}

/** An error stored as a fraction as text: 0.0831 -> "8.31%"; `missing` where there is no finite value. */
export function percentText(fraction: number | null | undefined, missing = '—'): string {
  const p = percent(fraction);
  return p === null ? missing : `${p.toFixed(2)}%`;
}

/** "8.75 ± 0.21 (n=3)"; with one value "8.75 (n=1)" — never a ±0 that would pretend to know the spread. */
export function summaryCell(s: Summary | null | undefined, digits = 2): string {
  if (!s) return '—';
  if (s.n < 2 || !Number.isFinite(s.std)) return `${s.mean.toFixed(digits)} (n=${s.n})`;
  return `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)} (n=${s.n})`;
}

/** Seconds as "850ms", "12.3s", "4m 05s", "1h 02m". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  if (m < 48 * 60) return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
  return `${(s / 86400).toFixed(1)}d`;
}

/** Age of a timestamp relative to now: "3s ago", "2m 10s ago". */
export function age(at: number | null | undefined, now: number): string {
  if (at === null || at === undefined) return '—';
  return `${duration(Math.max(0, now - at) / 1000)} ago`;
}

/** Value of a swept axis as a user would type it. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** A local date-time "2024-05-01 13:04:05" for unix ms. */
export function dateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A signed difference with a real minus sign: "+1.23", "−0.45"; values that round to zero print "0.00". */
export function signed(x: number, digits = 2): string {
  const text = Math.abs(x).toFixed(digits);
  if (Number(text) === 0) return text;
  return (x > 0 ? '+' : '−') + text;
}

/**
 * A difference with its test: "−3.84 [−4.50, −3.18] * (paired, n=4)"; without an interval it says why:
 * "+0.00 (no interval: per-seed differences all equal; paired, n=2)". The star marks an interval that
 * excludes 0.
 */
export function differenceText(d: Difference, digits = 2): string {
  if (!d.ci) return `${signed(d.diff, digits)} (no interval: ${d.reason}; ${testLabel(d)})`;
  return `${signed(d.diff, digits)} [${signed(d.ci.lo, digits)}, ${signed(d.ci.hi, digits)}]${excludesZero(d) ? ' *' : ''} (${testLabel(d)})`;
}
