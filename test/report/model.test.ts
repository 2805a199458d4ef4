import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import type {Db} from '../../src/store/db';
import {UsageError} from '../../src/errors';
import {buildReport, flattenSpec, parsePairs, valueMatches, type VariantResult} from '../../src/report/model';
import {mean, pairedT, sampleStd, welchSamples} from '../../src/report/stats';
import {openFixture, closeFixture, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

/** Final test errors (%) of the done trials of one variant, straight from SQL, by seed. */
function finalBySeed(sweepId: number, depth: number, residual: boolean): Map<number, number> {
  const rows = db
    .prepare(
      `SELECT t.seed AS seed, e.test_err AS err FROM trials t JOIN epochs e ON e.trial_id = t.id
       WHERE t.sweep_id = ? AND t.status = 'done' AND t.variant_json = ?
         AND e.epoch = (SELECT max(epoch) FROM epochs WHERE trial_id = t.id)`,
    )
    .all(sweepId, JSON.stringify({'model.depth': depth, 'model.residual': residual})) as {seed: number; err: number}[];
  return new Map(rows.map((r) => [r.seed, r.err * 100]));
}

/** Final test errors (%) of the done trials of one variant, straight from SQL. */
function finalErrors(sweepId: number, depth: number, residual: boolean): number[] {
  const rows = db
    .prepare(
      `SELECT e.test_err AS err FROM trials t JOIN epochs e ON e.trial_id = t.id
       WHERE t.sweep_id = ? AND t.status = 'done' AND t.variant_json = ?
         AND e.epoch = (SELECT max(epoch) FROM epochs WHERE trial_id = t.id)
       ORDER BY t.seed`,
    )
    .all(sweepId, JSON.stringify({'model.depth': depth, 'model.residual': residual})) as {err: number}[];
  return rows.map((r) => r.err * 100);
}

function find(variants: VariantResult[], depth: number, residual: boolean): VariantResult {
  const v = variants.find((x) => x.variant['model.depth'] === depth && x.variant['model.residual'] === residual);
  assert.ok(v, `variant depth=${depth} residual=${residual}`);
  return v;
}

test('default report is the newest sweep; a name or id selects another', () => {
  assert.equal(buildReport(db).sweep.name, 'depth-sweep-b');
  assert.equal(buildReport(db, {sweep: 'smoke'}).sweep.id, fx.smokeId);
  assert.equal(buildReport(db, {sweep: String(fx.depthId)}).sweep.name, 'depth-sweep');
  assert.throws(() => buildReport(db, {sweep: 'depth-swep'}), (e: unknown) => e instanceof UsageError && /did you mean "depth-sweep"/.test(e.message));
});

test('seeds fold into one row per variant in grid order, with mean ± std over done trials only', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  assert.deepEqual(r.axes, ['model.depth', 'model.residual']);
  assert.equal(r.variants.length, 6);
  assert.deepEqual(
    r.variants.map((v) => [v.variant['model.depth'], v.variant['model.residual']]),
    [[20, false], [20, true], [32, false], [32, true], [56, false], [56, true]],
  );
  assert.deepEqual(r.counts, {pending: 1, running: 1, done: 14, failed: 1, diverged: 1});
  for (const v of r.variants) {
    const depth = v.variant['model.depth'] as number;
    const residual = v.variant['model.residual'] as boolean;
    const errs = finalErrors(fx.depthId, depth, residual);
    const s = v.metrics.final_test_err;
    assert.ok(s);
    assert.equal(s.n, errs.length);
    assert.ok(Math.abs(s.mean - mean(errs)) < 1e-9);
    if (errs.length >= 2) assert.ok(Math.abs(s.std - sampleStd(errs)) < 1e-9);
    else assert.ok(Number.isNaN(s.std));
  }
  const diverged = find(r.variants, 56, false);
  assert.equal(diverged.counts.diverged, 1);
  assert.equal(diverged.metrics.final_test_err?.n, 2, 'the diverged seed is not averaged in');
  const failed = find(r.variants, 32, true);
  assert.equal(failed.counts.failed, 1);
  assert.equal(failed.metrics.final_test_err?.n, 2);
  const partial = find(r.variants, 56, true);
  assert.deepEqual([partial.counts.done, partial.counts.running, partial.counts.pending], [1, 1, 1]);
  assert.equal(partial.metrics.final_test_err?.n, 1);
  assert.equal(find(r.variants, 20, true).params, 269_722);
  assert.equal(find(r.variants, 56, true).macs, 125_741_312);
  assert.deepEqual(find(r.variants, 20, false).epochs, {min: 6, max: 6, planned: 6});
});

test('best test error is the minimum over epochs, never above the final one', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  for (const v of r.variants) {
    for (const t of v.trials.filter((x) => x.status === 'done')) {
      const tests = t.curve.map((p) => p.testErr).filter((x): x is number => x !== null);
      assert.equal(t.values.best_test_err, Math.min(...tests));
      assert.ok((t.values.best_test_err ?? Infinity) <= (t.values.final_test_err ?? -Infinity));
    }
  }
  const diverged = find(r.variants, 56, false).trials.find((t) => t.status === 'diverged');
  assert.ok(diverged);
  assert.equal(diverged.values.final_test_err, null, 'a NaN last epoch has no final error');
  assert.equal(diverged.curve.at(-1)?.testErr, null);
});

test('--where filters on swept axes and on spec keys; unknown keys suggest a near one', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=56']});
  assert.equal(r.variants.length, 2);
  assert.ok(r.variants.every((v) => v.variant['model.depth'] === 56));
  const both = buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=56', 'model.residual=true']});
  assert.equal(both.variants.length, 1);
  const viaSpec = buildReport(db, {sweep: 'depth-sweep', where: ['model.shortcut=A', 'train.optimizer.lr=0.1']});
  assert.equal(viaSpec.variants.length, 6);
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', where: ['model.dept=56']}), /did you mean "model.depth"/);
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=57']}), /matches no trial/);
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', where: ['model.depth']}), /expects key=value/);
});

test('--only-changed hides axes and columns that are constant', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', where: ['model.depth=56'], onlyChanged: true});
  assert.deepEqual(r.shownAxes, ['model.residual']);
  assert.deepEqual(r.show, {params: false, macs: false, epochs: false});
  const full = buildReport(db, {sweep: 'depth-sweep', onlyChanged: true});
  assert.deepEqual(full.shownAxes, ['model.depth', 'model.residual']);
  assert.equal(full.show.params, true);
});

test('--sort orders by a metric (missing values last) or an axis, - for descending', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', sort: 'final_test_err'});
  const means = r.variants.map((v) => v.metrics.final_test_err?.mean ?? Infinity);
  assert.deepEqual(means, [...means].sort((a, b) => a - b));
  const d = buildReport(db, {sweep: 'depth-sweep', sort: '-model.depth'});
  assert.deepEqual(d.variants.map((v) => v.variant['model.depth']), [56, 56, 32, 32, 20, 20]);
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', sort: 'final_tset_err'}), /did you mean "final_test_err"/);
});

test('--pivot builds rows × columns of two axes; extra varying axes join the rows', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth,model.residual'});
  assert.ok(r.pivot);
  assert.deepEqual(r.pivot.rowAxes, ['model.depth']);
  assert.deepEqual(r.pivot.colValues, [false, true]);
  assert.deepEqual(r.pivot.rows.map((x) => x.values), [[20], [32], [56]]);
  for (const row of r.pivot.rows) {
    row.cells.forEach((c, i) => {
      assert.ok(c);
      assert.equal(c.variant['model.depth'], row.values[0]);
      assert.equal(c.variant['model.residual'], r.pivot!.colValues[i]);
    });
  }
  const swapped = buildReport(db, {sweep: 'depth-sweep', pivot: 'model.residual,model.depth'});
  assert.deepEqual(swapped.pivot?.colValues, [20, 32, 56]);
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth'}), /ROWS,COLS/);
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', pivot: 'model.depth,model.resid'}), /did you mean "model.residual"/);
});

test('--baseline pairs each variant with its cell on the other axes, paired over the seeds both ran', () => {
  const r = buildReport(db, {sweep: 'depth-sweep', baseline: ['model.residual=false']});
  for (const v of r.variants) {
    assert.ok(v.baseline);
    const residual = v.variant['model.residual'];
    assert.equal(v.baseline.isBaseline, residual === false);
  }
  // Depth 20: seeds 1, 2, 3 done on both sides; the interval is the t interval of the per-seed differences.
  const v20 = find(r.variants, 20, true);
  const res = finalBySeed(fx.depthId, 20, true);
  const plain = finalBySeed(fx.depthId, 20, false);
  const expected = pairedT([1, 2, 3].map((seed) => (res.get(seed) as number) - (plain.get(seed) as number)));
  const d20 = v20.baseline?.difference;
  assert.ok(expected && d20?.ci);
  assert.equal(d20.test, 'paired');
  assert.equal(d20.nA, 3);
  assert.ok(Math.abs(d20.ci.lo - expected.lo) < 1e-9);
  assert.ok(Math.abs(d20.ci.hi - expected.hi) < 1e-9);
  // Depth 32: seed 2 of the residual net failed; paired on seeds 1 and 3, one value left out.
  const d32 = find(r.variants, 32, true).baseline?.difference;
  assert.equal(d32?.test, 'paired');
  assert.deepEqual([d32?.nA, d32?.unpaired], [2, 1]);
  // Depth 56: the residual net finished seed 1 only (n = 1): a difference, no interval, and why.
  const d56 = find(r.variants, 56, true).baseline?.difference;
  assert.ok(d56);
  assert.equal(d56.ci, null);
  assert.equal(d56.test, 'welch');
  assert.match(d56.reason ?? '', /n=1 on one side/);
  assert.ok(Number.isFinite(d56.diff));
  // Naming every axis picks one baseline for all variants.
  const single = buildReport(db, {sweep: 'depth-sweep', baseline: ['model.depth=20,model.residual=false']});
  const base = find(single.variants, 20, false);
  assert.ok(single.variants.every((v) => v.baseline?.baselineKey === base.key));
  assert.throws(() => buildReport(db, {sweep: 'depth-sweep', baseline: ['model.residual=maybe']}), /no variant has model.residual=maybe/);
});

test('helpers: pairs, typed value matching, spec flattening', () => {
  assert.deepEqual(parsePairs(['a=1,b=x', 'c=[3,3,3]'], 'where'), {a: '1', b: 'x', c: '[3,3,3]'});
  assert.ok(valueMatches(0.0001, '1e-4'));
  assert.ok(valueMatches(true, 'true'));
  assert.ok(!valueMatches(true, '1'));
  assert.ok(valueMatches('A', 'A'));
  assert.ok(!valueMatches(20, ''));
  assert.deepEqual(flattenSpec({model: {depth: 20, stages: [3, 3, 3]}, seed: 1}), {'model.depth': 20, 'model.stages': [3, 3, 3], seed: 1});
});
