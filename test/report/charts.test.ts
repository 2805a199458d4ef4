import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import type {Db} from '../../src/store/db';
import {buildReport} from '../../src/report/model';
import {chartSpecs, epochStats, facetAxis, numericAxes} from '../../src/report/charts';
import {buildHtml} from '../../src/report/html';
import {mean, sampleStd} from '../../src/report/stats';
import {openFixture, closeFixture, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

const means = (s: {series: {role: string}[]}) => s.series.filter((x) => x.role === 'mean').length;

test('depth × plain/residual: curves in two panels (Fig. 6), error vs depth, vs params, vs MACs', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  assert.equal(facetAxis(r), 'model.residual');
  assert.deepEqual(numericAxes(r), ['model.depth']);
  const charts = chartSpecs(r);
  assert.deepEqual(charts.map((c) => c.kind), ['curves', 'curves', 'axis', 'params', 'macs']);
  // 3 depths per panel, a test (solid) and a train (dashed) line each.
  for (const c of charts.filter((x) => x.kind === 'curves')) {
    assert.equal(means(c), 6);
    assert.equal(c.series.filter((s) => s.role === 'mean' && s.curve === 'train').every((s) => s.dashed), true);
    assert.equal(c.series.filter((s) => s.role === 'mean' && s.curve === 'test').every((s) => !s.dashed && s.legend), true);
    assert.equal(c.xMin, 1);
    assert.equal(c.xMax, 6);
  }
  // One line plain, one residual.
  for (const c of charts.filter((x) => x.kind !== 'curves')) assert.equal(means(c), 2, c.id);
  const axis = charts.find((c) => c.kind === 'axis')!;
  const residual = axis.series.find((s) => s.role === 'mean' && s.label === 'residual=true')!;
  assert.deepEqual(residual.points.map((p) => p.x), [20, 32, 56]);
  const v20 = r.variants.find((v) => v.variant['model.depth'] === 20 && v.variant['model.residual'] === true)!;
  assert.equal(residual.points[0].y, v20.metrics.final_test_err!.mean);
});

test('band = mean ± 1 std over seeds per epoch', () => {
  const r = buildReport(db, {sweep: 'depth-sweep'});
  const v = r.variants[0];
  const stats = epochStats(v, 'testErr');
  const e3 = v.trials.map((t) => t.curve.find((p) => p.epoch === 3)!.testErr!);
  assert.ok(Math.abs(stats[2].mean! - mean(e3)) < 1e-9);
  assert.ok(Math.abs(stats[2].std! - sampleStd(e3)) < 1e-9);
  const panel = chartSpecs(r)[0];
  const hi = panel.series.find((s) => s.role === 'band-hi' && s.curve === 'test')!;
  assert.ok(Math.abs(hi.points[2].y! - (mean(e3) + sampleStd(e3))) < 1e-9);
});

test('one axis: a single curves chart; a seed-only sweep still plots', () => {
  const one = buildReport(db, {sweep: 'depth-sweep', where: ['model.residual=true']});
  const charts = chartSpecs(one);
  assert.deepEqual(charts.map((c) => c.kind), ['curves', 'axis', 'params', 'macs']);
  assert.equal(means(charts[0]), 6);
  assert.equal(means(charts[1]), 1);
  const cell = buildReport(db, {sweep: 'depth-sweep', where: ['model.residual=true', 'model.depth=20']});
  const c2 = chartSpecs(cell);
  assert.deepEqual(c2.map((c) => c.kind), ['curves', 'params', 'macs']);
});

test('the page inlines Chart.js and its data, and loads nothing from elsewhere', () => {
  const html = buildHtml(buildReport(db, {sweep: 'depth-sweep'}), {configYaml: 'name: depth-sweep\n# <script>alert(1)</script>'});
  assert.match(html, /Chart\.js v4/);
  assert.doesNotMatch(html, /<script[^>]+src=/);
  assert.doesNotMatch(html, /<link[^>]+href=/);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.equal((html.match(/<canvas /g) ?? []).length, 5);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'user text is escaped');
});
