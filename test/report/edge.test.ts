/** Sweeps of unusual shape: seeds only (no axis), no trials yet, list-valued axes, and the import graph. */
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {openDb, type Db} from '../../src/store/db';
import {buildReport} from '../../src/report/model';
import {renderReport} from '../../src/report/views';
import {chartSpecs} from '../../src/report/charts';
import {buildHtml} from '../../src/report/html';
import {getStatus, renderStatus} from '../../src/report/status';
import {parseCsv} from '../../src/report/render';

let dir: string;
let db: Db;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-edge-'));
  db = openDb(path.join(dir, 'e.db'));
  const sweep = (name: string, at: number) =>
    Number(db.prepare('INSERT INTO sweeps (name, config_yaml, config_hash, created_at) VALUES (?, ?, ?, ?)').run(name, 'x: 1', `h-${name}`, at).lastInsertRowid);
  const trial = db.prepare(
    'INSERT INTO trials (sweep_id, key, idx, variant_json, seed, spec_json, status, params, macs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const epoch = db.prepare('INSERT INTO epochs (trial_id, epoch, train_loss, train_err, test_loss, test_err, lr, seconds, images_per_sec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const seedsOnly = sweep('seeds-only', 1000);
  for (const seed of [1, 2, 3]) {
    const id = Number(trial.run(seedsOnly, `so${seed}`, seed - 1, '{}', seed, JSON.stringify({train: {epochs: 2}, seed}), 'done', 1000, 2000).lastInsertRowid);
    epoch.run(id, 1, 2, 0.5, 2, 0.5 + seed / 100, 0.1, 1, 100);
    epoch.run(id, 2, 1, 0.3, 1, 0.3 + seed / 100, 0.1, 1, 100);
  }
  sweep('empty', 2000);
  const lists = sweep('stages', 3000);
  [[1, 1, 1], [2, 2, 2]].forEach((stages, i) => {
    const id = Number(
      trial.run(lists, `st${i}`, i, JSON.stringify({'model.stages': stages, 'model.block': 'basic'}), 1, JSON.stringify({train: {epochs: 1}}), 'done', null, null).lastInsertRowid,
    );
    epoch.run(id, 1, 1, 0.2, 1, 0.25 - i / 100, 0.1, 1, 100);
  });
});
after(() => {
  db.close();
  fs.rmSync(dir, {recursive: true, force: true});
});

test('a sweep without axes folds its seeds into one row', () => {
  const r = buildReport(db, {sweep: 'seeds-only'});
  assert.deepEqual(r.axes, []);
  assert.equal(r.variants.length, 1);
  assert.equal(r.variants[0].metrics.final_test_err?.n, 3);
  assert.ok(Math.abs(r.variants[0].metrics.final_test_err!.mean - 32) < 1e-9);
  const csv = parseCsv(renderReport(r, 'csv'));
  assert.equal(csv.length, 2);
  assert.equal(csv[0][0], 'params');
  assert.deepEqual(chartSpecs(r).map((c) => c.kind), ['curves', 'params', 'macs']);
  assert.match(buildHtml(r), /<canvas /);
  assert.match(renderReport(r, 'table', {curves: true}), /\(all\) +[▁-█]{2}/);
});

test('a sweep with no trials yet reports empty tables instead of failing', () => {
  const r = buildReport(db, {sweep: 'empty'});
  assert.equal(r.variants.length, 0);
  assert.match(renderReport(r, 'table', {curves: true}), /no epochs recorded yet/);
  assert.deepEqual(chartSpecs(r), []);
  assert.match(buildHtml(r), /<!doctype html>/);
  assert.match(renderStatus(getStatus(db, {sweep: 'empty'})), /│ empty /);
});

test('list-valued axes (stages) group, pivot and print as JSON', () => {
  const r = buildReport(db, {sweep: 'stages', pivot: 'model.stages,model.block'});
  assert.equal(r.variants.length, 2);
  assert.deepEqual(r.pivot?.rows.map((x) => x.values[0]), [[1, 1, 1], [2, 2, 2]]);
  assert.match(renderReport(r, 'table'), /\[1,1,1\]/);
  assert.ok(r.pivot?.rows.every((x) => x.cells[0] !== null));
});

test('report, status, show and compare never load TensorFlow', () => {
  const mods = ['commands/report', 'commands/status', 'commands/show', 'commands/compare', 'report/model', 'report/views', 'report/html', 'report/status', 'report/show', 'report/compare', 'report/watch'];
  const code = `
    ${mods.map((m) => `require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', m))});`).join('\n')}
    const loaded = Object.keys(require.cache).filter((f) => /@tensorflow|piscina/.test(f));
    process.stdout.write(JSON.stringify(loaded));`;
  const r = spawnSync(process.execPath, ['-e', code], {encoding: 'utf8'});
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});

test('the coordinator of a run (planning, store, progress) does not load TensorFlow; only its workers do', () => {
  const mods = ['commands/run', 'commands/plan', 'commands/resume', 'experiments/runner', 'experiments/progress', 'experiments/executor'];
  const code = `
    ${mods.map((m) => `require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', m))});`).join('\n')}
    process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((f) => /@tensorflow/.test(f))));`;
  const r = spawnSync(process.execPath, ['-e', code], {encoding: 'utf8'});
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});
