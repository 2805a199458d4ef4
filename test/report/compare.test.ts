import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import type {Db} from '../../src/store/db';
import {buildComparison, comparisonCsv, comparisonJson, comparisonTable} from '../../src/report/compare';
import {parseCsv, renderCsv, renderMarkdown, parseMarkdownTable} from '../../src/report/render';
import {signed} from '../../src/report/format';
import {welchSamples} from '../../src/report/stats';
import {openFixture, closeFixture, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

function finals(sweepId: number, depth: number, residual: boolean): number[] {
  return (
    db
      .prepare(
        `SELECT e.test_err AS err FROM trials t JOIN epochs e ON e.trial_id = t.id
         WHERE t.sweep_id = ? AND t.status = 'done' AND t.variant_json = ?
           AND e.epoch = (SELECT max(epoch) FROM epochs WHERE trial_id = t.id)`,
      )
      .all(sweepId, JSON.stringify({'model.depth': depth, 'model.residual': residual})) as {err: number}[]
  ).map((r) => r.err * 100);
}

test('compare matches variants across sweeps and gives B − A with a Welch interval', () => {
  const c = buildComparison(db, {a: 'depth-sweep', b: 'depth-sweep-b'});
  assert.deepEqual(c.axes, ['model.depth', 'model.residual']);
  assert.equal(c.rows.length, 6);
  for (const r of c.rows) {
    assert.ok(r.a && r.b);
    const depth = r.variant['model.depth'] as number;
    const residual = r.variant['model.residual'] as boolean;
    const w = welchSamples(finals(fx.otherId, depth, residual), finals(fx.depthId, depth, residual));
    assert.ok(r.diff !== null && Math.abs(r.diff - (r.b.metrics.final_test_err!.mean - r.a.metrics.final_test_err!.mean)) < 1e-12);
    if (r.a.metrics.final_test_err!.n >= 2) {
      assert.ok(w && r.welch);
      assert.ok(Math.abs(r.welch.lo - w.lo) < 1e-9 && Math.abs(r.welch.hi - w.hi) < 1e-9);
    } else assert.equal(r.welch, null);
  }
  // The B sweep's errors sit about one point higher (fixture shift 0.01).
  const mean = c.rows.reduce((s, r) => s + (r.diff ?? 0), 0) / c.rows.length;
  assert.ok(mean > 0.5 && mean < 1.5, `mean difference ${mean}`);
  assert.deepEqual(c.settings.map((s) => s.key), ['name']);
});

test('variants present in one sweep only are shown as such', () => {
  const c = buildComparison(db, {a: 'smoke', b: 'depth-sweep'});
  assert.equal(c.rows.length, 6);
  const only = c.rows.filter((r) => !r.a);
  assert.deepEqual(only.map((r) => r.variant['model.depth']), [56, 56]);
  const t = comparisonTable(c);
  assert.equal(t.rows.filter((r) => r.at(-1) === 'only in one sweep').length, 2);
  assert.ok(c.settings.some((s) => s.key === 'train.epochs' && s.a === 2 && s.b === 6));
  assert.match(t.notes!.join('\n'), /train\.epochs 2 → 6/);
});

test('compare output parses back as CSV, JSON and Markdown', () => {
  const c = buildComparison(db, {a: 'depth-sweep', b: 'depth-sweep-b', metric: 'best_test_err'});
  const csv = parseCsv(renderCsv(comparisonCsv(c)));
  assert.equal(csv.length, 7);
  const i = csv[0].indexOf('diff');
  assert.equal(Number(csv[1][i]), c.rows[0].diff);
  assert.ok(csv[0].includes('a_best_test_err_pct_mean'));
  const json = JSON.parse(JSON.stringify(comparisonJson(c)));
  assert.equal(json.rows.length, 6);
  assert.equal(json.metric, 'best_test_err');
  const md = parseMarkdownTable(renderMarkdown(comparisonTable(c)));
  assert.deepEqual(md.head.slice(-3), ['A: depth-sweep', 'B: depth-sweep-b', 'Δ B − A [95% CI]']);
  assert.throws(() => buildComparison(db, {a: 'smoke', b: String(fx.smokeId)}), /two different sweeps/);
});

test('signed differences never print −0.00', () => {
  assert.equal(signed(-0.0004), '0.00');
  assert.equal(signed(1.234), '+1.23');
  assert.equal(signed(-2.5), '−2.50');
});
