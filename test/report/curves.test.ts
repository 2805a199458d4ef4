import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import type {Db} from '../../src/store/db';
import {buildReport} from '../../src/report/model';
import {downsample, meanCurve, renderCurves, sparkline} from '../../src/report/curves';
import {openFixture, closeFixture, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

test('sparkline maps the scale onto eight bars and marks gaps', () => {
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7], 0, 7), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([10, null, 0], 0, 10), '█×▁');
  assert.equal(sparkline([3, 3], 3, 3), '▅▅', 'a flat line sits mid-height');
});

test('downsample averages buckets so long runs fit one line', () => {
  assert.deepEqual(downsample([1, 2, 3], 5), [1, 2, 3]);
  assert.deepEqual(downsample([1, 3, 5, 7], 2), [2, 6]);
  assert.deepEqual(downsample([null, null, 4, 6], 2), [null, 5]);
  assert.equal(downsample(Array.from({length: 160}, (_, i) => i), 48).length, 48);
});

test('mean curve averages seeds per epoch and skips NaN epochs of a diverged seed', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  const v = r.variants.find((x) => x.variant['model.depth'] === 56 && x.variant['model.residual'] === false)!;
  const curve = meanCurve(v, 'testErr');
  assert.equal(curve.length, 6);
  // Epoch 4: the diverged seed has NULL, so the mean is over the two others.
  const at4 = v.trials.map((t) => t.curve.find((p) => p.epoch === 4)?.testErr).filter((x): x is number => typeof x === 'number');
  assert.equal(at4.length, 2);
  assert.ok(Math.abs((curve[3] ?? NaN) - (at4[0] + at4[1]) / 2) < 1e-9);
  // Curves fall: the last epoch is well below the first.
  assert.ok((curve[5] ?? 100) < (curve[0] ?? 0) / 2);
});

test('the curves block has one line per variant on a shared scale', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  const out = renderCurves(r);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0], /^test error \(%\) per epoch/);
  assert.equal(lines.length, 1 + r.variants.length);
  assert.match(out, /depth=56 residual=false +[▁-█]+ .* \(1 diverged\)/);
  assert.ok(lines.slice(1).every((l) => /[▁-█]{6}/.test(l)));
});
