/**
 * Statistics over seeds: mean, sample standard deviation, and the difference of two variants with a
 * confidence interval: a paired t-test on the per-seed differences where both variants ran the same
 * seeds (the seed fixes initialization and data order, so pairing removes that share of the noise),
 * Welch's unequal-variance t-test where they did not.
 *
 * The Student t distribution is computed exactly (to about 1e-13 in the CDF) through the regularized
 * incomplete beta function, I_x(a, b), evaluated with its continued fraction (modified Lentz method),
 * with ln Γ from the Lanczos approximation (g = 7, 9 terms; relative error below 1e-15 for x > 0).
 * Quantiles invert the CDF by bisection to the precision of a double, so a 95 % interval uses the
 * same t value a statistics package prints (checked in the tests against published values).
 */

export interface Summary {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); NaN when n < 2. */
  std: number;
  n: number;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (Bessel's correction). NaN for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

/** Mean, std and n of the finite values; null when there are none. */
export function summarize(xs: readonly (number | null | undefined)[]): Summary | null {
  const finite = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (finite.length === 0) return null;
  return {mean: mean(finite), std: sampleStd(finite), n: finite.length};
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7). */
export function logGamma(x: number): number {
  if (x < 0.5) {
    // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  }
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz), valid for x < (a + 1) / (a + b + 2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const EPS = 1e-16;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    // Even step.
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // Odd step.
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) return h;
  }
  return h;
}

/** Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0)) throw new RangeError(`incomplete beta needs a, b > 0; received a=${a}, b=${b}`);
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  // The continued fraction converges fast on this side; use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) on the other.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** CDF of Student's t distribution with `df` degrees of freedom (df > 0, not necessarily an integer). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`degrees of freedom must be > 0; received ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  // P(|T| > |t|) = I_{df/(df+t²)}(df/2, 1/2).
  const tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (inverse CDF, by bisection to double precision). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`quantile needs 0 < p < 1; received ${p}`);
  if (!(df > 0)) throw new RangeError(`degrees of freedom must be > 0; received ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

export interface TTestResult {
  /** The estimated difference a − b. */
  diff: number;
  /** Standard error of the difference. */
  se: number;
  /** Degrees of freedom (paired: pairs − 1; Welch: Welch–Satterthwaite). */
  df: number;
  t: number;
  /** Two-sided p-value of "no difference". */
  p: number;
  level: number;
  lo: number;
  hi: number;
}

function tInterval(diff: number, se: number, df: number, level: number): TTestResult {
  const t = diff / se;
  const p = 2 * studentTCdf(-Math.abs(t), df);
  const q = studentTQuantile(0.5 + level / 2, df);
  return {diff, se, df, t, p, level, lo: diff - q * se, hi: diff + q * se};
}

/**
 * Welch's unequal-variance t-test of mean(a) − mean(b), with a two-sided `level` confidence interval.
 * Null where the data cannot support an interval: fewer than two values on a side (no variance to
 * estimate), or no spread on either side (the standard error would be 0, and two tied seeds are no
 * evidence of an exact difference). `welchReason` says which.
 */
export function welch(a: Summary, b: Summary, level = 0.95): TTestResult | null {
  if (welchReason(a, b) !== null) return null;
  const va = (a.std * a.std) / a.n;
  const vb = (b.std * b.std) / b.n;
  const df = ((va + vb) * (va + vb)) / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  return tInterval(a.mean - b.mean, Math.sqrt(va + vb), df, level);
}

/**
 * Whether a standard deviation is no spread at all: tied values give a standard deviation of rounding
 * error (seven seeds at 16.35 % give 4e-15, not 0), which must not pass for a measured spread.
 */
function noSpread(std: number, scale: number): boolean {
  return !(std > 1e-9 * Math.max(1, Math.abs(scale)));
}

/** Why Welch's test gives no interval for these two summaries, or null when it does. */
export function welchReason(a: Summary, b: Summary): string | null {
  const n = Math.min(a.n, b.n);
  if (n < 2) return `n=${n} on one side`;
  const scale = Math.max(Math.abs(a.mean), Math.abs(b.mean));
  if (noSpread(a.std, scale) && noSpread(b.std, scale)) return 'no spread on either side';
  return null;
}

/** Summary of raw values (convenience for tests and callers that hold samples). */
export function welchSamples(a: readonly number[], b: readonly number[], level = 0.95): TTestResult | null {
  const sa = summarize(a);
  const sb = summarize(b);
  return sa && sb ? welch(sa, sb, level) : null;
}

/**
 * Paired t-test of the mean per-pair difference: t interval on the differences with n − 1 degrees of
 * freedom. Null with fewer than two pairs, or when every difference is the same (no spread to estimate
 * the error from); `pairedReason` says which.
 */
export function pairedT(diffs: readonly number[], level = 0.95): TTestResult | null {
  if (pairedReason(diffs) !== null) return null;
  return tInterval(mean(diffs), sampleStd(diffs) / Math.sqrt(diffs.length), diffs.length - 1, level);
}

export function pairedReason(diffs: readonly number[]): string | null {
  if (diffs.length < 2) return `${diffs.length} pair${diffs.length === 1 ? '' : 's'} of seeds`;
  if (noSpread(sampleStd(diffs), Math.max(...diffs.map(Math.abs)))) return 'per-seed differences all equal';
  return null;
}

/** One finished trial's value of a metric, with its seed. */
export interface SeedValue {
  seed: number;
  value: number;
}

export type DiffTest = 'paired' | 'welch';

/** The difference a − b of two variants over seeds, with the test that was used and its interval. */
export interface Difference {
  test: DiffTest;
  /** Paired: mean of the per-seed differences; Welch: difference of the means. */
  diff: number;
  /** Values used from each side (paired: the number of pairs, on both). */
  nA: number;
  nB: number;
  /** Paired: values left out because their seed ran on one side only. */
  unpaired: number;
  /** The interval, or null when the data cannot support one (`reason` says why). */
  ci: TTestResult | null;
  reason: string | null;
}

/**
 * Compare two variants' values over seeds. Where they share two or more seeds, the comparison is
 * paired on those seeds (values of seeds present on one side only are left out and counted); otherwise
 * Welch's test on all values. Null when a side has no value.
 */
export function compareSeeds(a: readonly SeedValue[], b: readonly SeedValue[], level = 0.95): Difference | null {
  const fa = a.filter((x) => Number.isFinite(x.value));
  const fb = b.filter((x) => Number.isFinite(x.value));
  if (fa.length === 0 || fb.length === 0) return null;
  const bySeed = (xs: SeedValue[]) => new Map(xs.map((x) => [x.seed, x.value]));
  const ma = bySeed(fa);
  const mb = bySeed(fb);
  const unique = ma.size === fa.length && mb.size === fb.length;
  const shared = [...ma.keys()].filter((s) => mb.has(s)).sort((x, y) => x - y);
  if (unique && shared.length >= 2) {
    const diffs = shared.map((s) => (ma.get(s) as number) - (mb.get(s) as number));
    return {
      test: 'paired',
      diff: mean(diffs),
      nA: shared.length,
      nB: shared.length,
      unpaired: fa.length + fb.length - 2 * shared.length,
      ci: pairedT(diffs, level),
      reason: pairedReason(diffs),
    };
  }
  const sa = summarize(fa.map((x) => x.value)) as Summary;
  const sb = summarize(fb.map((x) => x.value)) as Summary;
  return {test: 'welch', diff: sa.mean - sb.mean, nA: sa.n, nB: sb.n, unpaired: 0, ci: welch(sa, sb, level), reason: welchReason(sa, sb)};
}

/** Whether the interval excludes 0 (the mark `*` in tables). */
export function excludesZero(d: Difference | null | undefined): boolean {
  return !!d?.ci && (d.ci.lo > 0 || d.ci.hi < 0);
}

/** "paired, n=4", "paired, n=3, 1 unpaired left out", "Welch, n=3 vs 2". */
export function testLabel(d: Difference): string {
  if (d.test === 'paired') return `paired, n=${d.nA}${d.unpaired > 0 ? `, ${d.unpaired} unpaired left out` : ''}`;
  return `Welch, n=${d.nA} vs ${d.nB}`;
}
