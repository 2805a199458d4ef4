/**
 * The Store's Slurm writes: every one is a compare-and-set on the sweep's Slurm lease (the attached
 * coordinator) and on the task's attempt, and writes its events only when it matched.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import {test} from 'node:test';
import {openDb, SCHEMA_VERSION} from '../../src/store/db';
import {SLURM_OWNER, Store, type NewTrial, type SlurmIngest} from '../../src/store/store';
import {tmpDir} from '../helpers';

const trials = (n: number): NewTrial[] =>
  Array.from({length: n}, (_, i) => ({key: `k${i}`, idx: i, variant: {'model.depth': 8 + 6 * i}, seed: 1, spec: {i}, params: 100 + i, macs: 1000 + i}));

const epoch = (n: number) => ({epoch: n, train_loss: 1, train_err: 0.5, test_loss: 1, test_err: 0.5, lr: 0.1, seconds: 1, images_per_sec: 10});

/** A sweep of three trials registered on Slurm, with this process attached. */
function onSlurm(): {store: Store; sweepId: number} {
  const store = new Store(path.join(tmpDir(), 'ablate.db'), SLURM_OWNER);
  const {sweep} = store.openSweep({name: 's', configPath: 's.yaml', yaml: 'name: s', hash: 'h1', engine: 'native-cpu'});
  store.addTrials(sweep.id, trials(3));
  store.registerSlurmSweep(sweep.id, () => ({token: 'abcd', runDir: '/shared/s-abcd'}));
  assert.deepEqual(store.attachSlurm(sweep.id, 60_000), {attached: true});
  return {store, sweepId: sweep.id};
}

const kinds = (store: Store, trialId: number) =>
  (store.db.prepare('SELECT kind FROM events WHERE trial_id = ? ORDER BY id').all(trialId) as {kind: string}[]).map((e) => e.kind);

/** Another ablate, alive on this host (pid 1 always exists), takes the sweep's lease. */
function stealLease(store: Store, sweepId: number): void {
  store.db.prepare('UPDATE slurm_sweeps SET coordinator = ? WHERE sweep_id = ?').run(`${os.hostname()}:1`, sweepId);
}

test('a submission leases pending trials to Slurm in grid order, one task each; sbatch\'s answer is recorded once', () => {
  const {store, sweepId} = onSlurm();
  const sub = store.prepareSlurmSubmission(sweepId, {size: 2, exclude: [], folder: (key, attempt) => `/shared/${key}/attempt-${attempt}`})!;
  assert.equal(sub.name, 'ablate-abcd-1');
  const tasks = store.slurmSubmissionTasks(sub.id);
  assert.deepEqual(tasks.map((t) => [t.key, t.array_index, t.attempt, t.run_dir]), [['k0', 0, 1, '/shared/k0/attempt-1'], ['k1', 1, 1, '/shared/k1/attempt-1']]);
  assert.deepEqual([store.trial(1).status, store.trial(1).owner, store.trial(3).status], ['running', SLURM_OWNER, 'pending']);
  assert.deepEqual(store.preparingSlurmSubmissions(sweepId), [{id: sub.id, name: sub.name}]);
  assert.deepEqual(store.activeSlurmTasks(sweepId), [], 'not active before sbatch answered');
  assert.equal(store.recordSlurmSubmitted(sub.id, '42'), true);
  assert.equal(store.recordSlurmSubmitted(sub.id, '43'), false, 'a submission has one job');
  assert.deepEqual(store.activeSlurmTasks(sweepId).map((t) => `${t.job_id}_${t.array_index}`), ['42_0', '42_1']);
  assert.deepEqual(kinds(store, 1), ['submitted']);
  const next = store.prepareSlurmSubmission(sweepId, {size: 5, exclude: [3], folder: () => '/x'});
  assert.equal(next, undefined, 'the excluded trial is the only pending one');
});

test('sbatch never took it: the trials go back to pending once, with one unsubmitted event each', () => {
  const {store, sweepId} = onSlurm();
  const sub = store.prepareSlurmSubmission(sweepId, {size: 3, exclude: [], folder: () => '/x'})!;
  assert.equal(store.abandonSlurmSubmission(sub.id, 'sbatch: error'), true);
  assert.equal(store.abandonSlurmSubmission(sub.id, 'again'), false);
  assert.equal(store.recordSlurmSubmitted(sub.id, '42'), false, 'an abandoned submission gets no job');
  assert.deepEqual(store.counts(sweepId), {pending: 3, running: 0, done: 0, failed: 0, diverged: 0});
  assert.deepEqual(kinds(store, 2), ['unsubmitted']);
});

test('what a run folder said is stored once: the read offset is compared and set with the rows', () => {
  const {store, sweepId} = onSlurm();
  const sub = store.prepareSlurmSubmission(sweepId, {size: 1, exclude: [], folder: () => '/x'})!;
  store.recordSlurmSubmitted(sub.id, '7');
  const [task] = store.activeSlurmTasks(sweepId);
  const batch: SlurmIngest = {
    offset: 300, seq: 4, epochs: [epoch(1)],
    started: {pid: 4242, at: 1000, node: 'n1'},
    engine: {pid: 4242, engine: {name: 'native-cpu'}},
    events: [{kind: 'started', message: 'on n1'}, {kind: 'resumed', message: 'from its checkpoint'}],
  };
  assert.deepEqual(store.ingestSlurm(task, 0, batch), {mixed: []});
  assert.equal(store.ingestSlurm(task, 0, batch), undefined, 'the same batch read twice is stored once');
  const t = store.trial(task.trial_id);
  assert.deepEqual([t.pid, t.engine, JSON.parse(t.engine_json!).name], [4242, 'native-cpu', 'native-cpu']);
  assert.deepEqual(kinds(store, task.trial_id), ['submitted', 'started', 'resumed']);
  const [after] = store.activeSlurmTasks(sweepId);
  assert.deepEqual([after.ingested, after.seq, after.node], [300, 4, 'n1']);
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM epochs').get() as {n: number}).n, 1);
});

test('an attempt is settled once; a resubmission gives the trial back and a lost job counts a crash', () => {
  const {store, sweepId} = onSlurm();
  const sub = store.prepareSlurmSubmission(sweepId, {size: 2, exclude: [], folder: () => '/x'})!;
  store.recordSlurmSubmitted(sub.id, '7');
  const [a, b] = store.activeSlurmTasks(sweepId);
  assert.equal(store.settleSlurmTask(a, {outcome: 'done', state: 'COMPLETED', status: 'done'}), true);
  assert.equal(store.settleSlurmTask(a, {outcome: 'done', state: 'COMPLETED', status: 'done'}), false);
  assert.deepEqual(kinds(store, a.trial_id), ['submitted', 'done']);
  assert.equal(store.settleSlurmTask(b, {outcome: 'lost', state: 'LOST', status: 'pending', crash: true, event: 'lost', eventMessage: 'left the queue'}), true);
  const t = store.trial(b.trial_id);
  assert.deepEqual([t.status, t.owner, t.crashes], ['pending', null, 1]);
  assert.equal(store.ingestSlurm(b, 0, {offset: 10, seq: 1, epochs: [epoch(1)], events: [{kind: 'x', message: null}]}), undefined, 'a settled attempt takes no more rows');
  assert.deepEqual(store.slurmOutcomes(b.trial_id), [{outcome: 'lost', n: 1}]);
  // Its next attempt is a new task.
  const again = store.prepareSlurmSubmission(sweepId, {size: 5, exclude: [], folder: (key, attempt) => `/${key}/${attempt}`})!;
  assert.deepEqual(store.slurmSubmissionTasks(again.id).map((x) => [x.trial_id, x.attempt]), [[b.trial_id, 2], [3, 1]]);
});

test('while another live ablate follows the sweep, this one is refused the lease and writes nothing', () => {
  const {store, sweepId} = onSlurm();
  const sub = store.prepareSlurmSubmission(sweepId, {size: 1, exclude: [], folder: () => '/x'})!;
  store.recordSlurmSubmitted(sub.id, '7');
  const [task] = store.activeSlurmTasks(sweepId);
  stealLease(store, sweepId);
  assert.deepEqual(store.attachSlurm(sweepId, 60_000), {attached: false, holder: `${os.hostname()}:1`});
  assert.equal(store.prepareSlurmSubmission(sweepId, {size: 5, exclude: [], folder: () => '/x'}), undefined);
  assert.equal(store.recordSlurmTaskState(task, {state: 'RUNNING', reason: null, node: 'n1'}), false);
  assert.equal(store.recordSlurmTaskFinal(task, 5), false);
  assert.equal(store.recordSlurmHeartbeat(task, 5), false);
  assert.equal(store.ingestSlurm(task, 0, {offset: 10, seq: 1, epochs: [epoch(1)], events: [{kind: 'started', message: null}]}), undefined);
  assert.equal(store.settleSlurmTask(task, {outcome: 'done', state: 'COMPLETED', status: 'done'}), false);
  store.detachSlurm(sweepId);
  assert.equal(store.slurmSweep(sweepId)!.coordinator, `${os.hostname()}:1`, 'detach leaves another holder alone');
  assert.deepEqual(kinds(store, task.trial_id), ['submitted']);
  assert.equal(store.trial(task.trial_id).status, 'running');
  // A holder whose process is gone is replaced.
  store.db.prepare('UPDATE slurm_sweeps SET coordinator = ? WHERE sweep_id = ?').run(`${os.hostname()}:999999999`, sweepId);
  assert.deepEqual(store.attachSlurm(sweepId, 60_000), {attached: true});
  assert.equal(store.settleSlurmTask(task, {outcome: 'done', state: 'COMPLETED', status: 'done'}), true);
});

test('trials leased to Slurm are not reclaimed by a local run: they run on without a coordinator', () => {
  const {store, sweepId} = onSlurm();
  store.prepareSlurmSubmission(sweepId, {size: 3, exclude: [], folder: () => '/x'});
  const local = new Store(store.db.name);
  assert.deepEqual(local.reclaim(sweepId, 0), []);
  local.close();
});

test('a database at schema 3 gains the Slurm tables on the next write open, its rows intact', () => {
  const {store, sweepId} = onSlurm();
  const file = store.db.name;
  store.db.exec('DROP TABLE slurm_tasks; DROP TABLE slurm_submissions; DROP TABLE slurm_sweeps; PRAGMA user_version = 3');
  store.close();
  assert.equal(SCHEMA_VERSION, 4);
  const db = openDb(file);
  assert.equal(db.pragma('user_version', {simple: true}), 4);
  assert.equal((db.prepare('SELECT count(*) AS n FROM slurm_sweeps').get() as {n: number}).n, 0);
  assert.equal((db.prepare('SELECT count(*) AS n FROM trials WHERE sweep_id = ?').get(sweepId) as {n: number}).n, 3);
  db.close();
});
