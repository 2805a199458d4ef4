import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {openDb} from '../../src/store/db';
import {makeFixture, type Fixture} from '../report/fixture';
import {runCli} from '../report/cli';

let fx: Fixture;
let trial: {id: number; key: string};

before(() => {
  fx = makeFixture();
  const db = openDb(fx.file, {readonly: true});
  trial = db.prepare("SELECT id, key FROM trials WHERE sweep_id = ? AND status = 'diverged'").get(fx.depthId) as {id: number; key: string};
  db.close();
});
after(() => fx.cleanup());

test('ablate show TRIAL prints the spec and the epoch table', () => {
  const r = runCli(['show', String(trial.id), '--db', fx.file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^trial ${trial.id} of sweep depth-sweep`));
  assert.match(r.stdout, /status +diverged/);
  assert.match(r.stdout, /resolved spec:\n {2}name: depth-sweep/);
  assert.equal(r.stdout.split('\n').filter((l) => /^│ +[1-4] │/.test(l)).length, 4);
});

test('ablate show KEY-PREFIX --json parses back', () => {
  const r = runCli(['show', trial.key.slice(0, 12), '--db', fx.file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.trial.id, trial.id);
  assert.equal(doc.epochs.length, 4);
  assert.equal(doc.epochs[3].testErr, null);
  assert.equal(doc.spec.model.depth, 56);
});

test('ablate show with an unknown trial exits 2 with a hint', () => {
  const r = runCli(['show', 'ffffffff', '--db', fx.file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error: no trial with id or key prefix "ffffffff"/);
  assert.match(r.stderr, /Try this:/);
});
