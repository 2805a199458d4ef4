import {test} from 'node:test';
import assert from 'node:assert/strict';
import {differenceText} from '../../src/report/format';
import {
  compareSeeds,
  excludesZero,
  logGamma,
  mean,
  pairedT,
  regularizedIncompleteBeta,
  sampleStd,
  studentTCdf,
  studentTQuantile,
  summarize,
  welch,
  welchSamples,
} from '../../src/report/stats';

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected}, got ${actual} (tol ${tol})`);

test('mean and sample std (Bessel) of known samples', () => {
  assert.equal(mean([2, 4, 4, 4, 5, 5, 7, 9]), 5);
  // Sum of squares 32 over n - 1 = 7.
  close(sampleStd([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7), 1e-15);
  assert.ok(Number.isNaN(sampleStd([3])), 'one value has no spread');
  assert.deepEqual(summarize([null, NaN, Infinity, undefined]), null);
  const s = summarize([0.1, null, 0.3, NaN]);
  assert.ok(s);
  close(s.mean, 0.2, 1e-15);
  assert.equal(s.n, 2);
});

test('ln Γ matches factorials and Γ(1/2) = √π', () => {
  close(logGamma(1), 0, 1e-14);
  close(logGamma(5), Math.log(24), 1e-13);
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14);
  close(logGamma(101), 363.73937555556347, 1e-10, 'ln 100!');
  close(logGamma(0.1), 2.252712651734206, 1e-12, 'ln Γ(0.1)');
});

test('regularized incomplete beta: closed forms', () => {
  // I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b; I_x(a, b) + I_{1-x}(b, a) = 1.
  close(regularizedIncompleteBeta(0.3, 2.5, 1), Math.pow(0.3, 2.5), 1e-14);
  close(regularizedIncompleteBeta(0.7, 1, 3.5), 1 - Math.pow(0.3, 3.5), 1e-14);
  close(regularizedIncompleteBeta(0.42, 3.3, 7.1) + regularizedIncompleteBeta(0.58, 7.1, 3.3), 1, 1e-14);
  assert.equal(regularizedIncompleteBeta(0, 2, 3), 0);
  assert.equal(regularizedIncompleteBeta(1, 2, 3), 1);
});

test('Student t CDF: closed forms for df = 1 and 2, and reference values', () => {
  for (const t of [-3, -0.7, 0, 0.4, 2.5, 30]) {
    close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-13, `Cauchy t=${t}`);
    close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-13, `df=2 t=${t}`);
  }
  // scipy.stats.t.cdf(1.5, df) for df = 4.5, 10, 100.
  close(studentTCdf(1.5, 4.5), 0.8998904571719233, 1e-12);
  close(studentTCdf(1.5, 10), 0.9177463367772799, 1e-12);
  close(studentTCdf(1.5, 100), 0.9316174709376556, 1e-12);
});

test('t quantiles equal the published two-sided 95% critical values', () => {
  // Standard t tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2), 4+ decimals, and scipy.stats.t.ppf to 1e-9.
  const table: [number, number][] = [
    [1, 12.706204736174694],
    [2, 4.302652729749462],
    [3, 3.1824463052837078],
    [4.5, 2.6589123472044034],
    [5, 2.5705818356363146],
    [7.3, 2.345066736547703],
    [10, 2.228138851986274],
    [30, 2.0422724563012378],
    [100, 1.9839715185235518],
    [1000, 1.9623390808264083],
  ];
  for (const [df, q] of table) close(studentTQuantile(0.975, df), q, 1e-9, `t(0.975, ${df})`);
  close(studentTQuantile(0.975, 1e6), 1.959966356814107, 1e-6, 'large df approaches the normal 1.96');
  close(studentTQuantile(0.6, 3), 0.2766706623326898, 1e-10);
  close(studentTQuantile(0.999, 2.5), 13.82219311086596, 1e-7);
  close(studentTQuantile(0.025, 10), -2.228138851986274, 1e-9, 'symmetry');
  assert.equal(studentTQuantile(0.5, 7), 0);
  // df = 1 has the closed form tan(π(p - 1/2)).
  close(studentTQuantile(0.9, 1), Math.tan(Math.PI * 0.4), 1e-9);
  assert.throws(() => studentTQuantile(1, 3), RangeError);
  assert.throws(() => studentTQuantile(0.9, 0), RangeError);
});

test("Welch's t-test reproduces a textbook example", () => {
  // Wikipedia "Welch's t-test", example 1 (two samples of 15): t = -2.46, ν ≈ 24.99, p = 0.021;
  // full-precision reference from scipy.stats.ttest_ind(a1, a2, equal_var=False).
  const a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
  const a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
  const w = welchSamples(a1, a2);
  assert.ok(w);
  close(w.t, -2.455356398286006, 1e-10, 't');
  close(w.df, 24.988529290231416, 1e-9, 'df');
  close(w.p, 0.021378001462866992, 1e-9, 'p');
  assert.ok(w.hi < 0, 'the 95% interval excludes zero at p = 0.021');
});

test('Welch 95% interval for small seed counts (3 vs 2 seeds)', () => {
  // diff 1.41667, df 2.61746; interval from scipy: [0.08939305, 2.74394028].
  const w = welchSamples([8.1, 8.9, 9.3], [7.2, 7.5]);
  assert.ok(w);
  close(w.diff, 1.4166666666666679, 1e-12);
  close(w.df, 2.6174646675334134, 1e-10);
  close(w.lo, 0.08939305076814819, 1e-8);
  close(w.hi, 2.7439402825651875, 1e-8);
  close(w.p, 0.04313786902366873, 1e-9);
});

test('Welch gives no interval with n < 2 on a side or with no spread on either side', () => {
  assert.equal(welch({mean: 1, std: NaN, n: 1}, {mean: 2, std: 0.1, n: 3}), null);
  // Two tied seeds on each side: a difference of 1 but no evidence of how exact it is (it used to claim p = 0).
  assert.equal(welch({mean: 5, std: 0, n: 3}, {mean: 4, std: 0, n: 3}), null);
  assert.equal(welchSamples([10, 10], [9, 9]), null);
  // Spread on one side is enough: se = 0.3/√3, df = n − 1 = 2 of the side with spread.
  const w = welch({mean: 5, std: 0.3, n: 3}, {mean: 4, std: 0, n: 3});
  assert.ok(w);
  close(w.df, 2, 1e-12);
  close(w.hi - w.diff, 4.302652729749462 * (0.3 / Math.sqrt(3)), 1e-9);
});

const seeds = (values: number[], first = 1) => values.map((value, i) => ({seed: first + i, value}));

test('paired t on per-seed differences, by hand: d = [1.0, 0.5, 1.5]', () => {
  // d̄ = 1.0; s_d = √((0 + 0.25 + 0.25) / 2) = 0.5; se = 0.5/√3; df = 2; t(0.975, 2) = 4.302652729749462.
  // Half width 4.302652729749462 × 0.288675134594813 = 1.242083...; t = 2√3; with df = 2 the CDF is
  // 1/2 + t / (2√(2 + t²)), so p = 1 − 2√3/√14 = 0.0741799...
  const p = pairedT([1.0, 0.5, 1.5]);
  assert.ok(p);
  close(p.diff, 1, 1e-15);
  close(p.se, 0.5 / Math.sqrt(3), 1e-15);
  assert.equal(p.df, 2);
  close(p.t, 2 * Math.sqrt(3), 1e-12);
  close(p.lo, 1 - 4.302652729749462 * 0.5 / Math.sqrt(3), 1e-9);
  close(p.hi, 1 + 4.302652729749462 * 0.5 / Math.sqrt(3), 1e-9);
  close(p.p, 1 - (2 * Math.sqrt(3)) / Math.sqrt(14), 1e-12);
  assert.ok(p.lo < 0, 'three seeds this noisy do not resolve a difference of 1');
});

test('two variants that ran the same seeds are compared paired, which resolves what Welch cannot', () => {
  // Seeds 1..4: a − b = [1.0, 1.2, 0.8, 1.0]; d̄ = 1.0, s_d = √(0.08/3), se = s_d/2, df = 3,
  // t(0.975, 3) = 3.1824463052837078, half width 0.2598596...: [0.74014, 1.25986], excludes 0.
  const a = seeds([10.0, 12.2, 9.8, 11.0]);
  const b = seeds([9.0, 11.0, 9.0, 10.0]);
  const d = compareSeeds(a, b);
  assert.ok(d && d.ci);
  assert.equal(d.test, 'paired');
  assert.deepEqual([d.nA, d.nB, d.unpaired], [4, 4, 0]);
  const half = 3.1824463052837078 * (Math.sqrt(0.08 / 3) / 2);
  close(d.ci.lo, 1 - half, 1e-9);
  close(d.ci.hi, 1 + half, 1e-9);
  assert.equal(d.ci.df, 3);
  assert.ok(excludesZero(d));
  // The same values as independent samples: the seed-to-seed spread swamps the difference.
  const w = welchSamples([10.0, 12.2, 9.8, 11.0], [9.0, 11.0, 9.0, 10.0]);
  assert.ok(w && w.lo < 0 && w.hi > 0, 'Welch on the same numbers straddles 0');
  // Seeds that differ: Welch, with the numbers of welchSamples.
  const apart = compareSeeds(a, seeds([9.0, 11.0, 9.0, 10.0], 11));
  assert.ok(apart && apart.ci);
  assert.equal(apart.test, 'welch');
  assert.deepEqual([apart.nA, apart.nB], [4, 4]);
  close(apart.ci.lo, w.lo, 1e-12);
  assert.ok(!excludesZero(apart));
});

test('paired on the shared seeds when one side lost a seed; Welch when fewer than two are shared', () => {
  // Seed 3 failed on side b: pairs on seeds 1, 2, 4 with d = [1.0, 0.5, 1.5] (the hand example above).
  const d = compareSeeds(seeds([10, 10.5, 99, 11.5]), [
    {seed: 1, value: 9},
    {seed: 2, value: 10},
    {seed: 4, value: 10},
  ]);
  assert.ok(d && d.ci);
  assert.equal(d.test, 'paired');
  assert.deepEqual([d.nA, d.unpaired], [3, 1]);
  close(d.diff, 1, 1e-12);
  close(d.ci.hi, 1 + 4.302652729749462 * 0.5 / Math.sqrt(3), 1e-9);
  const one = compareSeeds(seeds([10, 11]), [{seed: 2, value: 9}, {seed: 7, value: 9.5}]);
  assert.equal(one?.test, 'welch');
  assert.equal(compareSeeds([], seeds([1])), null);
});

test('no interval is claimed where the seeds cannot support one', () => {
  // Two tied seeds: the per-seed differences are 0 and 0.
  const tied = compareSeeds(seeds([10, 10]), seeds([10, 10]));
  assert.ok(tied);
  assert.equal(tied.test, 'paired');
  assert.equal(tied.ci, null);
  assert.match(tied.reason ?? '', /per-seed differences all equal/);
  assert.ok(!excludesZero(tied));
  // A constant shift is no spread either, also where rounding makes the differences unequal in the last
  // bits (16.35 − 16.30 and 17.20 − 17.15 differ by 4e-15).
  assert.equal(compareSeeds(seeds([11, 12]), seeds([10, 11]))?.ci, null);
  const rounded = compareSeeds(seeds([0.1635 * 100, 0.172 * 100]), seeds([0.163 * 100, 0.1715 * 100]));
  assert.equal(rounded?.ci, null);
  assert.match(rounded?.reason ?? '', /per-seed differences all equal/);
  // Seven tied seeds have a sample std of 4e-15 from rounding: still no spread.
  assert.equal(welchSamples(Array(7).fill(16.35), Array(7).fill(16.3)), null);
  assert.equal(pairedT([0.5]), null);
  // Different seeds, no spread on either side.
  const flat = compareSeeds(seeds([10, 10]), seeds([9, 9], 5));
  assert.equal(flat?.test, 'welch');
  assert.equal(flat?.ci, null);
  assert.match(flat?.reason ?? '', /no spread on either side/);
  // One seed on a side.
  const single = compareSeeds(seeds([10]), seeds([9, 9.5]));
  assert.equal(single?.ci, null);
  assert.match(single?.reason ?? '', /n=1 on one side/);
  close(single?.diff ?? NaN, 0.75, 1e-12);
});

test('a difference prints with its interval, its test and a star only when the interval excludes 0', () => {
  const resolved = compareSeeds(seeds([10.0, 12.2, 9.8, 11.0]), seeds([9.0, 11.0, 9.0, 10.0]));
  assert.equal(differenceText(resolved!), '+1.00 [+0.74, +1.26] * (paired, n=4)');
  const straddles = compareSeeds(seeds([10.0, 12.2, 9.8, 11.0]), seeds([9.0, 11.0, 9.0, 10.0], 11));
  assert.match(differenceText(straddles!), /^\+1\.00 \[−0\.\d\d, \+2\.\d\d\] \(Welch, n=4 vs 4\)$/);
  assert.equal(differenceText(compareSeeds(seeds([10, 10]), seeds([10, 10]))!), '0.00 (no interval: per-seed differences all equal; paired, n=2)');
});
