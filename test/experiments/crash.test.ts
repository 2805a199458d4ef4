/**
 * Crash safety through the real CLI: kill -9 of the coordinator at random moments, a kill at every store
 * commit (ABLATE_FAILPOINT), kill -9 of a worker, Ctrl-C, two coordinators at once, GPU pinning per slot.
 * After each story: every trial `done` exactly once, every (trial, epoch) row once, integrity ok, none running;
 * and evidence that the interruption landed in the middle of a trial (trials left `running` and then
 * `reclaimed`, trials `resumed` from their checkpoints), so a story cannot pass by killing an idle process.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import {test} from 'node:test';
import Database from 'better-sqlite3';
import {assertEveryTrialDoneOnce as assertComplete, cli, cliAsync, tmpDir, writeFile} from '../helpers';
import {planStudy} from '../../src/experiments/runner';
import {Store} from '../../src/store/store';

const SLOW = !process.env.ABLATE_SLOW && 'slow: set ABLATE_SLOW=1 (npm test does)';

function study(dir: string, opts: {seeds?: number[]; depths?: number[]; extraResources?: string; epochs?: number; trainSize?: number} = {}): string {
  const seeds = opts.seeds ?? [1, 2];
  const depths = opts.depths ?? [8];
  return writeFile(
    dir,
    'study.yaml',
    `name: crash
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: ${opts.trainSize ?? 64}, test_size: 32}
model: {family: cifar, depth: 8, widen_factor: 0.5}
train: {epochs: ${opts.epochs ?? 2}, batch_size: 16, optimizer: {lr: 0.05}}
seeds: [${seeds.join(', ')}]
sweep:
  model.depth: [${depths.join(', ')}]
  model.residual: [false, true]
resources: {workers: 2${opts.extraResources ?? ''}}
`,
  );
}

/** Events of one kind: trial id and message, in order. */
function events(db: string, kind: string): {trial: number; message: string}[] {
  const c = new Database(db, {readonly: true});
  try {
    return c.prepare('SELECT trial_id AS trial, message FROM events WHERE kind = ? ORDER BY id').all(kind) as {trial: number; message: string}[];
  } finally {
    c.close();
  }
}

/** Trials a killed coordinator left `running` (they must be reclaimed by the next run). */
function leftRunning(db: string): number {
  const c = new Database(db, {readonly: true});
  try {
    return (c.prepare("SELECT count(*) AS n FROM trials WHERE status = 'running'").get() as {n: number}).n;
  } finally {
    c.close();
  }
}

/** Epochs a `resumed` event says were done before the continuation. */
const resumedAfter = (message: string) => Number(/after (\d+) epoch/.exec(message)?.[1]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The pid of a worker process in the middle of a trial: its trial has stored its first epoch and has at least
 * two of its four 256-step epochs to go, so a kill now lands inside the trial, not after it, however fast the machine.
 */
async function workerMidTrial(db: string, coordinator: number): Promise<number> {
  let victim: number | undefined;
  await waitFor(() => {
    let c: Database.Database | undefined;
    try {
      c = new Database(db, {readonly: true});
      const row = c
        .prepare(
          `SELECT t.pid FROM trials t JOIN epochs e ON e.trial_id = t.id
           WHERE t.status = 'running' AND t.pid != ? GROUP BY t.id HAVING max(e.epoch) BETWEEN 1 AND 2 LIMIT 1`,
        )
        .get(coordinator) as {pid: number} | undefined;
      victim = row?.pid;
    } catch {
      victim = undefined; // the database or its tables do not exist yet
    } finally {
      c?.close();
    }
    return victim !== undefined;
  }, 120_000, 'a worker in the middle of a trial');
  return victim!;
}

/** `ablate run` with one worker process killed (SIGKILL) in the middle of its trial; the sweep must still finish. */
async function killWorkerMidTrial(file: string, db: string): Promise<void> {
  const run = cliAsync(['run', file, '--db', db]);
  process.kill(await workerMidTrial(db, run.child.pid!), 'SIGKILL');
  const r = await run.exited;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assertComplete(db, 2, 4);
}

test('each slot gets its own GPU: no two concurrent trials share one', () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const r = cli(['run', study(dir, {extraResources: ', gpus: [3, 5]'}), '--db', db]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const c = new Database(db, {readonly: true});
  const trials = c.prepare('SELECT id, started_at, finished_at FROM trials').all() as {id: number; started_at: number; finished_at: number}[];
  const device = new Map(
    (c.prepare("SELECT trial_id, message FROM events WHERE kind = 'device'").all() as {trial_id: number; message: string}[]).map((e) => [
      e.trial_id,
      /CUDA_VISIBLE_DEVICES=(\d+)/.exec(e.message)![1],
    ]),
  );
  c.close();
  assert.equal(device.size, 4, 'every trial saw CUDA_VISIBLE_DEVICES');
  assert.deepEqual([...new Set(device.values())].sort(), ['3', '5']);
  let overlaps = 0;
  for (const a of trials) {
    for (const b of trials) {
      if (a.id >= b.id) continue;
      if (a.started_at < b.finished_at && b.started_at < a.finished_at) {
        overlaps++;
        assert.notEqual(device.get(a.id), device.get(b.id), `trials ${a.id} and ${b.id} ran at once on one GPU`);
      }
    }
  }
  assert.ok(overlaps > 0, 'trials did run concurrently');
});

test('SIGKILL of ablate run in the middle of the smoke study, then run again: every trial done once', {skip: SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const run = cliAsync(['run', 'configs/smoke.yaml', '--db', db]);
  await waitFor(() => /done, test error/.test(run.output().stdout), 120_000, 'a finished trial');
  run.child.kill('SIGKILL');
  await run.exited;
  const c = new Database(db, {readonly: true});
  const left = c.prepare("SELECT count(*) AS n FROM trials WHERE status != 'done'").get() as {n: number};
  c.close();
  assert.ok(left.n > 0, 'the kill came before the end');
  const running = leftRunning(db);
  assert.ok(running > 0, 'the kill landed while trials were running');
  const again = cli(['run', 'configs/smoke.yaml', '--db', db], {timeoutMs: 300_000});
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assertComplete(db, 8);
  assert.equal(events(db, 'reclaimed').length, running, 'the next run reclaimed every trial the kill left running');
});

test('kill -9 of the coordinator at 20 random moments of a 12-trial sweep loses and repeats nothing', {skip: SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  // 32-step epochs: long enough that the 12 trials outlast the kills on a fast idle machine (with 4-step
  // epochs the sweep could finish after two or three kills).
  const file = study(dir, {depths: [8, 14, 20], trainSize: 512});
  let rng = 12345;
  const random = () => ((rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let running = 0;
  let midTrial = 0;
  for (let i = 0; i < 20; i++) {
    // A random moment while the run is training (however slow the machine is to start one), not before.
    const run = cliAsync(['run', file, '--db', db]);
    let exited = false;
    void run.exited.then(() => (exited = true));
    await waitFor(() => exited || /started \(attempt/.test(run.output().stdout), 120_000, 'a started trial');
    if (exited) break; // the sweep is finished
    await sleep(random() * 1500);
    run.child.kill('SIGKILL');
    await run.exited;
    const left = leftRunning(db);
    running += left;
    if (left > 0) midTrial++;
  }
  const last = cli(['run', file, '--db', db], {timeoutMs: 600_000});
  assert.equal(last.code, 0, last.stderr + last.stdout);
  assertComplete(db, 12);
  assert.ok(midTrial >= 3, `only ${midTrial} kills landed while a trial was running`);
  assert.equal(events(db, 'reclaimed').length, running, 'every trial a kill left running was reclaimed once');
});

test('ABLATE_FAILPOINT=commit:K: a crash at any store commit loses nothing', {skip: SLOW}, () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {seeds: [1]});
  let k = 1;
  for (; k < 200; k++) {
    const r = cli(['run', file, '--db', db], {env: {ABLATE_FAILPOINT: `commit:${k}`}});
    if (r.code === 0) break;
    assert.equal(r.code, 137, `run with commit:${k} should die by SIGKILL or finish; got ${r.code}: ${r.stderr}`);
  }
  assert.ok(k > 3, 'the walk went through several commits');
  assertComplete(db, 2);
  // Commits inside a trial (its epoch rows) were among the crash points: those trials were reclaimed, and a
  // crash after the first epoch's checkpoint continued from it.
  assert.ok(events(db, 'reclaimed').length > 0, 'some crash left a trial running');
  assert.ok(events(db, 'resumed').some((e) => resumedAfter(e.message) >= 1), 'some trial continued from an epoch checkpoint');
});

test('kill -9 of one worker process mid-epoch: the trial is retried from its checkpoint and the sweep finishes', {skip: SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {seeds: [1], epochs: 4, trainSize: 4096, extraResources: ', executor: process'});
  await killWorkerMidTrial(file, db);
  const c = new Database(db, {readonly: true});
  const retries = c.prepare("SELECT message FROM events WHERE kind = 'retry'").all() as {message: string}[];
  c.close();
  assert.equal(retries.length, 1);
  assert.match(retries[0].message, /exited \(SIGKILL\)/);
  // The retry continued from the checkpoint of epoch 1 or later, not from scratch.
  const resumed = events(db, 'resumed');
  assert.equal(resumed.length, 1, JSON.stringify(resumed));
  assert.equal(resumed[0].trial, events(db, 'retry')[0].trial);
  assert.ok(resumedAfter(resumed[0].message) >= 1, resumed[0].message);
});

test('a trial stopped and resumed many times still gets its retry when its worker crashes (retries count crashes, not starts)', {skip: SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {seeds: [1], epochs: 4, trainSize: 4096, extraResources: ', executor: process'});
  // The sweep as five earlier runs interrupted by Ctrl-C leave it: every trial started five times, never crashed.
  const plan = planStudy(file);
  const store = new Store(db);
  const {sweep} = store.openSweep({name: plan.name, configPath: file, yaml: plan.study.text, hash: plan.hash, engine: plan.resources.engine});
  store.addTrials(sweep.id, plan.trials.map((t) => ({key: t.spec.key, idx: t.spec.index, variant: t.spec.variant, seed: t.spec.seed, spec: t.spec, params: t.params, macs: t.macs})));
  for (let i = 0; i < 5; i++) {
    for (const slot of [0, 1]) store.claimNext(sweep.id, slot, process.pid);
    for (const t of store.db.prepare("SELECT id FROM trials WHERE status = 'running'").all() as {id: number}[]) store.finishTrial(t.id, 'pending', {event: 'stopped'});
  }
  store.close();
  await killWorkerMidTrial(file, db);
  const c = new Database(db, {readonly: true});
  const rows = c.prepare('SELECT attempt, crashes FROM trials ORDER BY crashes').all() as {attempt: number; crashes: number}[];
  c.close();
  assert.deepEqual(rows.map((t) => t.crashes), [0, 1]);
  assert.deepEqual(rows.map((t) => t.attempt), [6, 7], 'attempt still counts starts');
});

test('Ctrl-C stops cleanly with exit 130, leaves nothing running, and the same command resumes', {skip: SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {epochs: 6});
  const run = cliAsync(['run', file, '--db', db]);
  await waitFor(() => /epoch 1\/6/.test(run.output().stdout), 120_000, 'a first epoch');
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const r = await run.exited;
  assert.equal(r.code, 130, r.stderr + r.stdout);
  assert.ok(Date.now() - t0 < 30_000, 'exits within 30 s');
  assert.match(r.stdout, /interrupted by SIGINT; run the same command to resume/);
  const c = new Database(db, {readonly: true});
  assert.equal((c.prepare("SELECT count(*) AS n FROM trials WHERE status = 'running'").get() as {n: number}).n, 0);
  assert.ok((c.prepare("SELECT count(*) AS n FROM events WHERE kind = 'stopped'").get() as {n: number}).n > 0);
  c.close();
  const stopped = events(db, 'stopped');
  const again = cli(['run', file, '--db', db], {timeoutMs: 300_000});
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assertComplete(db, 4, 6);
  // Every trial the signal stopped continued from the checkpoint it wrote, past where it had got.
  const resumed = events(db, 'resumed');
  for (const s of stopped) assert.ok(resumed.some((r) => r.trial === s.trial), `trial ${s.trial} was stopped (${s.message}) but never resumed`);
  assert.ok(resumed.some((r) => !/after 0 epoch\(s\) and 0 step/.test(r.message)), JSON.stringify(resumed));
});

test('two coordinators on one database never run the same trial', {skip: SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {depths: [8, 14]});
  const [a, b] = [cliAsync(['run', file, '--db', db, '--workers', '1']), cliAsync(['run', file, '--db', db, '--workers', '1'])];
  const [ra, rb] = await Promise.all([a.exited, b.exited]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  assertComplete(db, 8);
  const c = new Database(db, {readonly: true});
  const starts = c.prepare("SELECT trial_id, count(*) AS n FROM events WHERE kind = 'started' GROUP BY trial_id").all() as {n: number}[];
  const owners = c.prepare('SELECT count(DISTINCT owner) AS n FROM trials').get() as {n: number};
  c.close();
  assert.equal(owners.n, 2, 'both coordinators ran trials');
  assert.ok(starts.every((s) => s.n === 1), 'no trial was started twice');
});

test('two workers building their first convolutions at once never crash the process (20 fresh runs)', {skip: SLOW}, () => {
  // oneDNN initialises some kernels lazily on first execution; before the native addon serialised
  // first use, about one run in twelve of this study died with SIGSEGV or heap corruption.
  for (let i = 0; i < 20; i++) {
    const dir = tmpDir();
    const r = cli(['run', study(dir, {seeds: [1, 2]}), '--db', path.join(dir, 'ablate.db')]);
    assert.equal(r.code, 0, `run ${i + 1}: exit ${r.code}\n${r.stderr}`);
  }
});
