import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {openDb, TRIAL_STATUSES, type Db} from '../../src/store/db';
import {UsageError} from '../../src/errors';
import {
  canonicalJson,
  emptyCounts,
  epochCountsByTrial,
  epochsOfSweep,
  findTrial,
  lastEpochs,
  listSweeps,
  resolveSweep,
  specsOfSweep,
  statusCounts,
  trialSummariesOfSweep,
  trialsOfSweep,
} from '../../src/store/queries';
import {makeFixture, openFixture, closeFixture, type Fixture} from '../report/fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

test('sweeps resolve by id, by name (newest of that name) and default to the newest', () => {
  assert.deepEqual(listSweeps(db).map((s) => s.name), ['smoke', 'depth-sweep', 'depth-sweep-b']);
  assert.equal(resolveSweep(db).name, 'depth-sweep-b');
  assert.equal(resolveSweep(db, String(fx.smokeId)).name, 'smoke');
  assert.equal(resolveSweep(db, 'depth-sweep').id, fx.depthId);
  assert.throws(() => resolveSweep(db, 'nothing-like-it'), UsageError);
});

test('a name reused by a changed config resolves to its newest sweep', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-q-'));
  const w = openDb(path.join(dir, 'a.db'));
  try {
    const ins = w.prepare('INSERT INTO sweeps (name, config_yaml, config_hash, created_at) VALUES (?, ?, ?, ?)');
    ins.run('s', 'a: 1', 'h1', 1000);
    const newer = Number(ins.run('s', 'a: 2', 'h2', 2000).lastInsertRowid);
    assert.equal(resolveSweep(w, 's').id, newer);
    assert.throws(() => resolveSweep(openDb(':memory:')), /holds no sweeps/);
  } finally {
    w.close();
    fs.rmSync(dir, {recursive: true, force: true});
  }
});

test('trials come parsed, in grid order, with a canonical variant key', () => {
  const trials = trialsOfSweep(db, fx.depthId);
  assert.equal(trials.length, 18);
  assert.deepEqual(trials.map((t) => t.idx), [...trials.map((t) => t.idx)].sort((a, b) => a - b));
  assert.deepEqual(trials[0].variant, {'model.depth': 20, 'model.residual': false});
  assert.equal(trials[0].variantKey, '{"model.depth":20,"model.residual":false}');
  assert.equal(canonicalJson({b: 1, a: {d: [1, {z: 0, y: 1}], c: null}}), '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}');
  // Flat objects whose keys are already sorted give the same text as the general path.
  assert.equal(canonicalJson({'model.depth': 20, 'model.residual': true, 'x': 'A', 'y': null, 'z': 1e-5}), '{"model.depth":20,"model.residual":true,"x":"A","y":null,"z":0.00001}');
  assert.equal(canonicalJson({'9': 1, '10': 2}), '{"10":2,"9":1}');
  assert.equal(canonicalJson({b: 1, a: 2}), '{"a":2,"b":1}');
  assert.equal(canonicalJson({a: NaN, b: -0}), '{"a":null,"b":0}');
  assert.equal(canonicalJson({a: new Date(0)}), '{"a":{}}');
  assert.equal(canonicalJson(Object.assign(Object.create(null), {a: 1, b: 'x'})), '{"a":1,"b":"x"}');
  assert.equal((trials[0].spec as {train: {epochs: number}}).train.epochs, 6);
});

test('epochs group by trial in order; last epochs and counts agree', () => {
  const byTrial = epochsOfSweep(db, fx.depthId);
  const trials = trialsOfSweep(db, fx.depthId);
  const pending = trials.find((t) => t.status === 'pending')!;
  assert.equal(byTrial.has(pending.id), false);
  const done = trials.find((t) => t.status === 'done')!;
  assert.deepEqual(byTrial.get(done.id)!.map((e) => e.epoch), [1, 2, 3, 4, 5, 6]);
  const last = lastEpochs(db, [done.id, pending.id]);
  assert.equal(last.get(done.id)?.epoch, 6);
  assert.equal(last.has(pending.id), false);
  const counts = epochCountsByTrial(db, fx.depthId);
  assert.equal(counts.get(done.id)?.epochs, 6);
  assert.ok((counts.get(done.id)?.seconds ?? 0) > 6 * 20);
  assert.deepEqual(statusCounts(db).get(fx.depthId), {pending: 1, running: 1, done: 14, failed: 1, diverged: 1});
});

test('trial summaries fold the epochs in SQL exactly as reading every row does', () => {
  for (const sweepId of [fx.smokeId, fx.depthId, fx.otherId]) {
    const trials = trialsOfSweep(db, sweepId);
    const byTrial = epochsOfSweep(db, sweepId);
    const summaries = trialSummariesOfSweep(db, sweepId);
    const specs = specsOfSweep(db, sweepId);
    assert.deepEqual(summaries.map((s) => s.id), trials.map((t) => t.id));
    const fin = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null && Number.isFinite(x));
    for (const [i, s] of summaries.entries()) {
      const t = trials[i];
      const rows = byTrial.get(t.id) ?? [];
      const last = rows[rows.length - 1];
      assert.deepEqual(s.variant, t.variant);
      assert.equal(s.variantKey, t.variantKey);
      assert.deepEqual(specs.get(s.id), t.spec);
      assert.equal(s.plannedEpochs, (t.spec as {train: {epochs: number}}).train.epochs);
      assert.equal(s.epochs, rows.length);
      assert.deepEqual(s.last, last ? {trainLoss: last.trainLoss, trainErr: last.trainErr, testLoss: last.testLoss, testErr: last.testErr} : null);
      const tests = fin(rows.map((r) => r.testErr));
      assert.equal(s.bestTestErr, tests.length > 0 ? Math.min(...tests) : null);
      const secs = fin(rows.map((r) => r.seconds));
      assert.ok(secs.length === 0 ? s.seconds === null : Math.abs(s.seconds! - secs.reduce((a, b) => a + b, 0)) < 1e-9);
      const ips = fin(rows.map((r) => r.imagesPerSec));
      assert.ok(ips.length === 0 ? s.imagesPerSec === null : Math.abs(s.imagesPerSec! - ips.reduce((a, b) => a + b, 0) / ips.length) < 1e-9);
    }
  }
  // The diverged trial's last row holds an infinite test loss and a NULL (NaN) error: kept as they are.
  const diverged = trialSummariesOfSweep(db, fx.depthId).find((s) => s.status === 'diverged')!;
  assert.equal(diverged.last?.testLoss, Infinity);
  assert.equal(diverged.last?.testErr, null);
  assert.ok(diverged.bestTestErr !== null && Number.isFinite(diverged.bestTestErr));
});

test('trials are found by id or unique key prefix (LIKE wildcards are literal)', () => {
  const t = trialsOfSweep(db, fx.smokeId)[3];
  assert.equal(findTrial(db, String(t.id)).key, t.key);
  assert.equal(findTrial(db, t.key).id, t.id);
  assert.throws(() => findTrial(db, 's%'), /no trial/);
  assert.throws(() => findTrial(db, 'sm'), /matches several trials/);
});

test('a read-only connection reads while a writer holds the database', () => {
  const w = openDb(fx.file);
  try {
    w.prepare('BEGIN IMMEDIATE').run();
    w.prepare("UPDATE trials SET status = 'done' WHERE status = 'running'").run();
    // WAL: the reader sees the last committed state, not the open transaction, and is not blocked.
    assert.equal(statusCounts(db).get(fx.depthId)?.running, 1);
    w.prepare('COMMIT').run();
    assert.equal(statusCounts(db).get(fx.depthId)?.running, 0);
    w.prepare("UPDATE trials SET status = 'running' WHERE id = (SELECT id FROM trials WHERE sweep_id = ? AND seed = 3 AND idx = 17)").run(fx.depthId);
  } finally {
    w.close();
  }
});

test('an empty count has every trial state, in the order of TRIAL_STATUSES, at zero', () => {
  assert.deepEqual(Object.entries(emptyCounts()), TRIAL_STATUSES.map((s) => [s, 0]));
  assert.notEqual(emptyCounts(), emptyCounts(), 'a fresh object each time');
});

test('trial summaries come in grid order, and a spec that is not JSON is named (the first in grid order)', () => {
  const summaries = trialSummariesOfSweep(db, fx.depthId);
  const order = db.prepare('SELECT id FROM trials WHERE sweep_id = ? ORDER BY idx, seed, id').all(fx.depthId) as {id: number}[];
  assert.deepEqual(summaries.map((t) => t.id), order.map((r) => r.id));

  const broken = makeFixture();
  const w = openDb(broken.file);
  try {
    const ids = order.map((r) => r.id);
    // The later trial in grid order is broken first, so that table order and grid order differ where it matters.
    w.prepare('UPDATE trials SET spec_json = ? WHERE id = ?').run('{"train": {"epochs": 3,},}', ids[ids.length - 1]);
    w.prepare('UPDATE trials SET spec_json = ? WHERE id = ?').run('not json', ids[2]);
    assert.throws(() => trialSummariesOfSweep(w, fx.depthId), (e: Error) => e instanceof UsageError && e.message === `spec_json of trial ${ids[2]} is not valid JSON`);
    w.prepare('UPDATE trials SET spec_json = ? WHERE id = ?').run('{}', ids[2]);
    // JSON5 (a trailing comma) is not JSON either.
    assert.throws(() => trialSummariesOfSweep(w, fx.depthId), (e: Error) => e instanceof UsageError && e.message === `spec_json of trial ${ids[ids.length - 1]} is not valid JSON`);
    assert.equal(trialSummariesOfSweep(w, fx.smokeId).length > 0, true, 'other sweeps still read');
  } finally {
    w.close();
    broken.cleanup();
  }
});
