import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {test} from 'node:test';
import {openDb, SCHEMA_VERSION} from '../../src/store/db';
import {Store, type NewTrial} from '../../src/store/store';
import {EnvironmentError, UsageError} from '../../src/errors';
import {tmpDir} from '../helpers';

const trials = (n: number): NewTrial[] =>
  Array.from({length: n}, (_, i) => ({key: `k${i}`, idx: i, variant: {'model.depth': 8 + 6 * i}, seed: 1, spec: {i}, params: 100 + i, macs: 1000 + i}));

function fresh(owner?: string): {store: Store; file: string; sweepId: number} {
  const file = path.join(tmpDir(), 'ablate.db');
  const store = new Store(file, owner);
  const {sweep} = store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1'});
  store.addTrials(sweep.id, trials(3));
  return {store, file, sweepId: sweep.id};
}

test('the same grid inserted twice keeps one row per key', () => {
  const {store, sweepId} = fresh();
  assert.equal(store.addTrials(sweepId, trials(3)), 0);
  assert.equal(store.addTrials(sweepId, trials(4)), 1);
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM trials').get() as {n: number}).n, 4);
});

test('a changed config under an existing name is refused unless forced new', () => {
  const {store} = fresh();
  assert.equal(store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1'}).created, false);
  assert.throws(() => store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s\n', hash: 'h2'}), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /sweep "s" already exists .* with a different config/);
    assert.match(e.hint!, /--new/);
    return true;
  });
  const again = store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s\n', hash: 'h2', forceNew: true});
  assert.equal(again.created, true);
});

test('claims are FIFO and a claimed trial is never handed out twice', () => {
  const {store, file, sweepId} = fresh('hostA:1');
  const other = new Store(file, 'hostB:2');
  const a = store.claimNext(sweepId, 0, 1)!;
  const b = other.claimNext(sweepId, 0, 2)!;
  const c = store.claimNext(sweepId, 1, 1)!;
  assert.deepEqual([a.idx, b.idx, c.idx], [0, 1, 2]);
  assert.equal(store.claimNext(sweepId, 0, 1), undefined);
  assert.equal(a.attempt, 1);
  assert.equal(a.status, 'running');
  other.close();
});

test('epoch rows are idempotent: a replayed epoch overwrites, never duplicates', () => {
  const {store, sweepId} = fresh();
  const t = store.claimNext(sweepId, 0, process.pid)!;
  const row = {epoch: 1, train_loss: 1, train_err: 0.5, test_loss: 1.1, test_err: 0.6, lr: 0.1, seconds: 1, images_per_sec: 10};
  store.recordEpochs(t.id, [row]);
  store.recordEpochs(t.id, [{...row, test_err: 0.55}]);
  const rows = store.db.prepare('SELECT * FROM epochs WHERE trial_id = ?').all(t.id) as {test_err: number}[];
  assert.equal(rows.length, 1);
  assert.equal(rows[0].test_err, 0.55);
});

test('trials left running by a dead coordinator on this host are reclaimed; a live one keeps its lease', () => {
  const {store, file, sweepId} = fresh();
  // A coordinator that has exited: a real process that is gone now.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'});
  const host = store.owner.split(':')[0];
  const ghost = new Store(file, `${host}:${dead.stdout}`);
  const lost = ghost.claimNext(sweepId, 0, Number(dead.stdout))!;
  ghost.close();
  const alive = new Store(file, `${host}:${process.ppid}`);
  const kept = alive.claimNext(sweepId, 1, process.ppid)!;
  alive.close();
  const reclaimed = store.reclaim(sweepId, 60_000);
  assert.deepEqual(reclaimed.map((r) => r.id), [lost.id]);
  assert.equal(store.trial(lost.id).status, 'pending');
  assert.equal(store.trial(kept.id).status, 'running');
  const ev = store.db.prepare("SELECT kind FROM events WHERE trial_id = ? AND kind = 'reclaimed'").all(lost.id);
  assert.equal(ev.length, 1);
});

test('another host\'s trial is reclaimed only when its heartbeat is stale', () => {
  const {store, file, sweepId} = fresh();
  const remote = new Store(file, 'elsewhere:1');
  const t = remote.claimNext(sweepId, 0, 1)!;
  remote.close();
  assert.equal(store.reclaim(sweepId, 60_000).length, 0);
  store.db.prepare('UPDATE trials SET heartbeat_at = ? WHERE id = ?').run(Date.now() - 120_000, t.id);
  assert.equal(store.reclaim(sweepId, 60_000).length, 1);
});

test('finishing needs the lease: a coordinator cannot end a trial it does not hold', () => {
  const {store, file, sweepId} = fresh('hostA:1');
  const t = store.claimNext(sweepId, 0, 1)!;
  const intruder = new Store(file, 'hostB:2');
  intruder.finishTrial(t.id, 'done');
  assert.equal(store.trial(t.id).status, 'running');
  store.finishTrial(t.id, 'done');
  assert.equal(store.trial(t.id).status, 'done');
  assert.notEqual(store.trial(t.id).finished_at, null);
  intruder.close();
});

test('failed trials are queued again on request', () => {
  const {store, sweepId} = fresh();
  const t = store.claimNext(sweepId, 0, process.pid)!;
  store.finishTrial(t.id, 'failed', {error: 'boom'});
  assert.equal(store.counts(sweepId).failed, 1);
  assert.equal(store.requeueFailed(sweepId), 1);
  assert.equal(store.trial(t.id).status, 'pending');
  assert.equal(store.trial(t.id).error, null);
});

test('a file that is not SQLite is refused with a clear message', () => {
  const file = path.join(tmpDir(), 'notes.db');
  fs.writeFileSync(file, 'these are my notes, not a database '.repeat(50));
  const before = fs.readFileSync(file);
  assert.throws(() => openDb(file), (e: unknown) => e instanceof UsageError && /is not an ablate database/.test(e.message));
  assert.deepEqual(fs.readFileSync(file), before, 'the file is left untouched');
});

test('read-only opening of a missing database says how to get one', () => {
  assert.throws(() => openDb(path.join(tmpDir(), 'none.db'), {readonly: true}), (e: unknown) => e instanceof UsageError && /no database at/.test(e.message));
});

test('a results folder that cannot be written is an environment error', {skip: process.getuid?.() === 0 && 'root can write anywhere; covered by the read-only mount check below'}, () => {
  const dir = tmpDir();
  fs.chmodSync(dir, 0o500);
  assert.throws(() => openDb(path.join(dir, 'x.db')), (e: unknown) => e instanceof EnvironmentError);
});

test('WAL mode and the schema version are set', () => {
  const {store} = fresh();
  assert.equal(store.db.pragma('journal_mode', {simple: true}), 'wal');
  assert.equal(store.db.pragma('user_version', {simple: true}), SCHEMA_VERSION);
  assert.equal(store.db.pragma('integrity_check', {simple: true}), 'ok');
});
