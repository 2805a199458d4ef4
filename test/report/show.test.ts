import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import type {Db} from '../../src/store/db';
import {getTrialDetail, renderTrial} from '../../src/report/show';
import {openFixture, closeFixture, NOW, type Fixture} from './fixture';

let fx: Fixture;
let db: Db;
before(() => ({fx, db} = openFixture()));
after(() => closeFixture(fx, db));

function trialId(sweepId: number, where: string): {id: number; key: string} {
  return db.prepare(`SELECT id, key FROM trials WHERE sweep_id = ? AND ${where}`).get(sweepId) as {id: number; key: string};
}

test('show by id gives the resolved spec and the per-epoch curve in percent', () => {
  const t = trialId(fx.depthId, "status = 'done' AND seed = 1 AND idx = 0");
  const d = getTrialDetail(db, String(t.id));
  assert.equal(d.trial.id, t.id);
  assert.equal(d.sweep.name, 'depth-sweep');
  assert.equal((d.spec as {model: {depth: number}}).model.depth, 20);
  assert.equal(d.epochs.length, 6);
  const raw = db.prepare('SELECT test_err FROM epochs WHERE trial_id = ? AND epoch = 6').get(t.id) as {test_err: number};
  assert.ok(Math.abs((d.epochs[5].testErr ?? 0) - raw.test_err * 100) < 1e-9);
  const text = renderTrial(d, NOW);
  assert.match(text, /resolved spec:/);
  assert.match(text, /depth: 20/);
  assert.match(text, /momentum: 0\.9/);
  assert.match(text, /milestones: \[3\]/, 'lists of scalars on one line, as in study files');
  assert.match(text, /^  engine    native-cpu \(node 20\.19\.2, tfjs-core 4\.22\.0, cpu Test CPU, oneDNN 2\.6\.3, cpu runtime omp, isa avx2\), 2 threads$/m);
  assert.equal(d.trial.engine, 'native-cpu');
  assert.equal((d.trial.engineInfo as {versions: {oneDNN: string}}).versions.oneDNN, '2.6.3');
  assert.equal(text.split('\n').filter((l) => /^│ +[1-6] │/.test(l)).length, 6);
});

test('show by key prefix; a diverged trial shows its NaN epoch and its event', () => {
  const t = trialId(fx.depthId, "status = 'diverged'");
  const d = getTrialDetail(db, t.key.slice(0, 12));
  assert.equal(d.trial.status, 'diverged');
  assert.equal(d.epochs.at(-1)?.testErr, null);
  assert.equal(d.epochs.at(-1)?.testLoss, Infinity);
  const text = renderTrial(d, NOW);
  assert.match(text, /│ +inf │/);
  assert.match(text, /diverged: loss became NaN in epoch 4/);
});

test('a failed trial shows its error; ambiguous and unknown references are usage errors', () => {
  const t = trialId(fx.depthId, "status = 'failed'");
  const text = renderTrial(getTrialDetail(db, String(t.id)), NOW);
  assert.match(text, /error +Error: worker exited with code 137/);
  assert.throws(() => getTrialDetail(db, 'de'), /matches several trials/);
  assert.throws(() => getTrialDetail(db, 'zzzz'), /no trial with id or key prefix "zzzz"/);
});
