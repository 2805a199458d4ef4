import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import type {Db} from '../../src/store/db';
import {buildComparison, comparisonCsv, comparisonJson, comparisonTable} from '../../src/report/compare';
import {parseCsv, renderCsv, renderMarkdown, parseMarkdownTable} from '../../src/report/render';
import {signed} from '../../src/report/format';
import {pairedT} from '../../src/report/stats';
import {openFixture, closeFixture, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

function finals(sweepId: number, depth: number, residual: boolean): Map<number, number> {
  const rows = db
    .prepare(
      `SELECT t.seed AS seed, e.test_err AS err FROM trials t JOIN epochs e ON e.trial_id = t.id
       WHERE t.sweep_id = ? AND t.status = 'done' AND t.variant_json = ?
         AND e.epoch = (SELECT max(epoch) FROM epochs WHERE trial_id = t.id)`,
    )
    .all(sweepId, JSON.stringify({'model.depth': depth, 'model.residual': residual})) as {seed: number; err: number}[];
  return new Map(rows.map((r) => [r.seed, r.err * 100]));
}

test('compare matches variants across sweeps and gives B − A paired over the seeds both ran', () => {
  const c = buildComparison(db, {a: 'depth-sweep', b: 'depth-sweep-b'});
  assert.deepEqual(c.axes, ['model.depth', 'model.residual']);
  assert.equal(c.rows.length, 6);
  for (const r of c.rows) {
    assert.ok(r.a && r.b);
    const depth = r.variant['model.depth'] as number;
    const residual = r.variant['model.residual'] as boolean;
    // Both sweeps ran seeds 1, 2, 3; A lost some to divergence, failure or not finishing.
    const b = finals(fx.otherId, depth, residual);
    const a = finals(fx.depthId, depth, residual);
    const shared = [...a.keys()].filter((s) => b.has(s)).sort();
    const d = r.difference;
    assert.ok(d);
    if (shared.length >= 2) {
      const expected = pairedT(shared.map((s) => (b.get(s) as number) - (a.get(s) as number)));
      assert.ok(expected && d.ci);
      assert.equal(d.test, 'paired');
      assert.equal(d.nA, shared.length);
      assert.ok(Math.abs(d.ci.lo - expected.lo) < 1e-9 && Math.abs(d.ci.hi - expected.hi) < 1e-9);
    } else {
      assert.equal(d.test, 'welch');
      assert.equal(d.ci, null);
    }
  }
  // The B sweep's errors sit about one point higher (fixture shift 0.01).
  const mean = c.rows.reduce((s, r) => s + (r.difference?.diff ?? 0), 0) / c.rows.length;
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
  assert.equal(Number(csv[1][i]), c.rows[0].difference?.diff);
  assert.equal(csv[1][csv[0].indexOf('diff_test')], 'paired');
  assert.ok(csv[0].includes('a_best_test_err_pct_mean'));
  const json = JSON.parse(JSON.stringify(comparisonJson(c)));
  assert.equal(json.rows.length, 6);
  assert.equal(json.metric, 'best_test_err');
  assert.equal(json.rows[0].difference.test, 'paired');
  assert.equal(json.rows[0].difference.ci95.length, 2);
  const md = parseMarkdownTable(renderMarkdown(comparisonTable(c)));
  assert.deepEqual(md.head.slice(-3), ['A: depth-sweep', 'B: depth-sweep-b', 'Δ B − A [95% CI]']);
  assert.throws(() => buildComparison(db, {a: 'smoke', b: String(fx.smokeId)}), /two different sweeps/);
});

test('signed differences never print −0.00', () => {
  assert.equal(signed(-0.0004), '0.00');
  assert.equal(signed(1.234), '+1.23');
  assert.equal(signed(-2.5), '−2.50');
});
