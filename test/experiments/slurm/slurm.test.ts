/**
 * The slurm executor through the real CLI on a real one-node Slurm (see cluster.ts): the smoke study as job
 * arrays with a fake GPU per task, preemption with requeue, the time-limit warning, Ctrl-C, kill -9 of the
 * coordinator (also right after sbatch), --detach with status, the torch engine's Python workers in the array
 * tasks, and bad settings caught before submitting.
 * After each story: every trial done once, every (trial, epoch) row once, no job submitted twice.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {after, before, test} from 'node:test';
import Database from 'better-sqlite3';
import {assertEveryTrialDoneOnce, cli, cliAsync, requires, ROOT, tmpDir, writeFile} from '../../helpers';
import {checkpointPath, loadCheckpoint} from '../../../src/experiments/checkpoint';
import {NO_TORCH} from '../../engine/torch-helpers';
import {SLURM_INSTALLED, startCluster, type Cluster} from './cluster';

const noSlurm = requires('SLURM', !SLURM_INSTALLED && 'Slurm is not installed: apt-get install slurmctld slurmd slurm-client (scripts/setup.sh does)');
/** The stories that train (a few minutes on 2 cores) run with the slow tests. */
const SLOW = !process.env.ABLATE_SLOW && 'slow: set ABLATE_SLOW=1 (npm test does)';
let cluster: Cluster;

before(async () => {
  if (!noSlurm) cluster = await startCluster({maxArraySize: 5});
});
after(() => cluster?.stop());

const env = () => cluster.env;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(get: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const SLURM_SECTION = 'slurm: {gpus_per_trial: 1, cpus_per_task: 1, poll_seconds: 0.5}';

function study(dir: string, o: {name: string; epochs?: number; trainSize?: number; seeds?: string; sweep?: string; slurm?: string; resources?: string}): string {
  return writeFile(
    dir,
    `${o.name}.yaml`,
    `name: ${o.name}
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: ${o.trainSize ?? 64}, test_size: 32}
model: {family: cifar, depth: 8, width: 0.5}
train: {epochs: ${o.epochs ?? 2}, batch_size: 16, optimizer: {lr: 0.05}}
seeds: ${o.seeds ?? '[1]'}
${o.sweep ?? ''}
resources: ${o.resources ?? '{executor: slurm}'}
${o.slurm ?? SLURM_SECTION}
`,
  );
}

function open(db: string) {
  return new Database(db, {readonly: true});
}

/** Every trial done exactly once, each epoch stored once, one Slurm task per attempt, and no array task that ran twice. */
function assertComplete(db: string, trials: number, epochs: number): void {
  assertEveryTrialDoneOnce(db, trials, epochs);
  const c = open(db);
  try {
    const subs = c.prepare('SELECT name, job_id, state FROM slurm_submissions').all() as {name: string; job_id: string; state: string}[];
    assert.ok(subs.every((s) => s.state === 'submitted' && s.job_id), JSON.stringify(subs));
    // The job completion log has one record per array task run (a requeue adds one for the same task).
    const names = new Set(subs.map((s) => s.name));
    const ran = cluster.completions().filter((l) => names.has(/ Name=(\S+)/.exec(l)?.[1] ?? ''));
    const tasks = c.prepare('SELECT count(*) AS n FROM slurm_tasks').get() as {n: number};
    assert.ok(ran.length >= tasks.n, `every submitted task ran (${ran.length} of ${tasks.n})`);
    assert.equal(new Set(subs.map((s) => s.job_id)).size, subs.length, 'no submission has two jobs');
  } finally {
    c.close();
  }
}

/** One sbatch for the sweep, and each of its `tasks` array tasks ran once (none submitted twice). */
function assertOneSubmissionRanOnce(db: string, tasks: number): void {
  const c = open(db);
  const subs = c.prepare('SELECT name FROM slurm_submissions').all() as {name: string}[];
  c.close();
  assert.equal(subs.length, 1);
  const jobs = cluster.completions().filter((l) => l.includes(` Name=${subs[0].name} `));
  assert.equal(jobs.length, tasks, `one run per array task: ${jobs.join('\n')}`);
}

/** The run folder files of a database's Slurm sweeps. */
function runFiles(db: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === name) out.push(p);
    }
  };
  walk(path.join(path.dirname(db), 'slurm'));
  return out;
}

function events(file: string): {type: string; [k: string]: unknown}[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

test('the smoke study on Slurm: arrays split below MaxArraySize, two tasks at once, each on its own GPU', {skip: noSlurm || SLOW}, () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const text = fs.readFileSync(path.join(ROOT, 'configs', 'smoke.yaml'), 'utf8').replace(/^resources:.*$/m, 'resources: {executor: slurm}');
  const file = writeFile(dir, 'smoke.yaml', `${text}\n${SLURM_SECTION}\n`);
  const r = cli(['run', file, '--db', db], {env: env(), timeoutMs: 300_000});
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /on Slurm, engine native-cpu/);
  assert.match(r.stdout, /running on localhost as job \d+_\d/);
  assert.match(r.stdout, /sweep smoke \(id 1\): 8 done, 0 diverged, 0 failed, 0 not finished/);
  assertComplete(db, 8, 2);
  const c = open(db);
  const subs = c.prepare('SELECT name FROM slurm_submissions ORDER BY id').all() as {name: string}[];
  assert.equal(subs.length, 2, '8 trials with MaxArraySize=5: arrays of 5 and 3');
  const trials = c.prepare('SELECT id, engine, engine_json FROM trials').all() as {id: number; engine: string; engine_json: string}[];
  // The engine that ran each trial is recorded with its description, as the local executors do.
  for (const t of trials) assert.deepEqual([t.engine, JSON.parse(t.engine_json).name], ['native-cpu', 'native-cpu'], `trial ${t.id}`);
  const device = new Map((c.prepare("SELECT trial_id, message FROM events WHERE kind = 'device'").all() as {trial_id: number; message: string}[]).map((e) => [e.trial_id, e.message]));
  c.close();
  assert.equal(device.size, trials.length, 'every task saw CUDA_VISIBLE_DEVICES from Slurm');
  assert.deepEqual([...new Set(device.values())].sort(), ['CUDA_VISIBLE_DEVICES=0', 'CUDA_VISIBLE_DEVICES=1']);
  // Two at once, never on one GPU: the run folders say when each attempt started and ended.
  const spans = runFiles(db, 'events.jsonl').map((f) => {
    const ev = events(f);
    const start = ev.find((e) => e.type === 'started')!;
    return {device: start.device, from: start.at as number, to: ev[ev.length - 1].at as number};
  });
  let overlaps = 0;
  for (const a of spans) {
    for (const b of spans) {
      if (a === b || !(a.from < b.to && b.from < a.to)) continue;
      overlaps++;
      assert.notEqual(a.device, b.device, 'two tasks at once on one GPU');
    }
  }
  assert.ok(overlaps > 0, 'tasks ran two at once');
  const report = cli(['report', '--db', db, '--format', 'json'], {env: env()});
  assert.equal(report.code, 0, report.stderr);
  assert.equal(JSON.parse(report.stdout).variants.length, 4);
});

test('a preempted trial checkpoints, is requeued by Slurm, resumes, and ends with the metrics of an uninterrupted run', {skip: noSlurm || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {name: 'preempt', epochs: 3, trainSize: 8192, slurm: 'slurm: {partition: low, gpus_per_trial: 1, cpus_per_task: 1, poll_seconds: 0.5}'});
  const run = cliAsync(['run', file, '--db', db], {env: env()});
  const log = await waitFor(() => runFiles(db, 'events.jsonl')[0], 120_000, 'the task to start');
  // A job in the high partition needs both GPUs: Slurm preempts the trial's job (USR1, grace time, requeue).
  cluster.run('sbatch', ['-p', 'high', '--gres=gpu:2', '-o', '/dev/null', '--wrap', 'sleep 1']);
  const r = await run.exited;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /stopped \(preempted\)/);
  assertComplete(db, 1, 3);
  const ev = events(log);
  assert.deepEqual(ev.filter((e) => e.type === 'started').map((e) => e.restart), [0, 1], 'the same task ran again after its requeue');
  const stop = ev.find((e) => e.type === 'stopped')!;
  assert.equal(stop.reason, 'preempted');
  const c = open(db);
  const tasks = c.prepare('SELECT attempt, outcome FROM slurm_tasks').all();
  const slurmRows = c.prepare('SELECT epoch, train_loss, train_err, test_loss, test_err FROM epochs ORDER BY epoch').all();
  const storeId = (c.prepare("SELECT value FROM meta WHERE key = 'store_id'").get() as {value: string}).value;
  const trial = c.prepare('SELECT key, engine FROM trials').get() as {key: string; engine: string};
  const resumed = c.prepare("SELECT count(*) AS n FROM events WHERE kind = 'resumed'").get() as {n: number};
  const runDir = (c.prepare('SELECT run_dir FROM slurm_sweeps').get() as {run_dir: string}).run_dir;
  c.close();
  assert.deepEqual(tasks, [{attempt: 1, outcome: 'done'}], 'requeued by Slurm, not resubmitted');
  assert.equal(trial.engine, 'native-cpu');
  assert.equal(resumed.n, 1, 'the restarted task resumed from its checkpoint');
  // The checkpoint is filed under the trial's identity in the run folder, and its header names the owner.
  const ckpt = loadCheckpoint(checkpointPath(path.join(runDir, 'checkpoints'), {store: storeId, sweep: 1, trial: trial.key}), {store: storeId, sweep: 1, trial: trial.key});
  assert.equal(ckpt.ignored, undefined);
  assert.deepEqual(ckpt.state?.identity, {store: storeId, sweep: 1, trial: trial.key});
  assert.ok((stop.epochs as number) < 3, 'the stop came before the end');
  // The same trial without interruption, on this machine.
  const local = path.join(dir, 'local.db');
  const plain = writeFile(dir, 'plain.yaml', fs.readFileSync(file, 'utf8').replace('resources: {executor: slurm}', 'resources: {executor: thread, workers: 1, threads: 1}').replace(/^slurm:.*$/m, ''));
  const l = cli(['run', plain, '--db', local]);
  assert.equal(l.code, 0, l.stderr + l.stdout);
  const lc = open(local);
  const localRows = lc.prepare('SELECT epoch, train_loss, train_err, test_loss, test_err FROM epochs ORDER BY epoch').all();
  lc.close();
  assert.deepEqual(slurmRows, localRows);
});

test('a trial warned of its time limit (USR1 to the batch shell, as --signal=B:USR1@N sends it) is resubmitted and finishes from its checkpoint', {skip: noSlurm || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {name: 'timeout', epochs: 3, trainSize: 8192, slurm: "slurm: {time: '10', max_timeouts: 2, gpus_per_trial: 1, cpus_per_task: 1, poll_seconds: 0.5}"});
  const run = cliAsync(['run', file, '--db', db], {env: env()});
  const log = await waitFor(() => runFiles(db, 'events.jsonl').find((f) => fs.readFileSync(f, 'utf8').includes('"type":"epoch"')), 120_000, 'a first epoch');
  const job = events(log).find((e) => e.type === 'started')!.job as string;
  cluster.run('scancel', ['--signal=USR1', '--batch', job]);
  const r = await run.exited;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /timeout \(reached its time limit \(1 of at most 2\); runs again from its checkpoint\)/);
  assertComplete(db, 1, 3);
  const c = open(db);
  assert.deepEqual(c.prepare('SELECT attempt, outcome FROM slurm_tasks ORDER BY attempt').all(), [{attempt: 1, outcome: 'timeout'}, {attempt: 2, outcome: 'done'}]);
  const script = fs.readFileSync(runFiles(db, `${(c.prepare('SELECT name FROM slurm_submissions ORDER BY id').get() as {name: string}).name}.sh`)[0], 'utf8');
  c.close();
  for (const option of ['--requeue', '--open-mode=append', '--signal=B:USR1@90', '--time=10', '--gres=gpu:1', '--cpus-per-task=1']) assert.ok(script.includes(`#SBATCH ${option}\n`), option);
  const second = events(log.replace('attempt-1', 'attempt-2'));
  assert.ok((second.find((e) => e.type === 'epoch')!.row as {epoch: number}).epoch >= 1, 'attempt 2 replays the checkpoint history');
});

test('Ctrl-C cancels the sweep\'s jobs with one scancel, exits 130, and the next run finishes them from their checkpoints', {skip: noSlurm || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  // 8 epochs of 128 steps: the trials are still training when Ctrl-C comes after their first epoch.
  const file = study(dir, {name: 'ctrlc', epochs: 8, trainSize: 2048, seeds: '[1, 2]'});
  const run = cliAsync(['run', file, '--db', db], {env: env()});
  await waitFor(() => runFiles(db, 'events.jsonl').filter((f) => fs.readFileSync(f, 'utf8').includes('"type":"epoch"')).length === 2, 120_000, 'both trials training');
  run.child.kill('SIGINT');
  const r = await run.exited;
  assert.equal(r.code, 130, r.stderr + r.stdout);
  const c = open(db);
  const names = (c.prepare('SELECT name FROM slurm_submissions').all() as {name: string}[]).map((s) => s.name);
  assert.deepEqual((c.prepare('SELECT status FROM trials').all() as {status: string}[]).map((t) => t.status), ['pending', 'pending']);
  assert.equal((c.prepare("SELECT count(*) AS n FROM events WHERE kind = 'cancelled'").get() as {n: number}).n, 2);
  c.close();
  const left = cluster.run('squeue', ['-h', '-t', 'PENDING,RUNNING,COMPLETING', `--name=${names.join(',')}`]);
  assert.equal(left.trim(), '', 'no job of the sweep is left in the queue');
  const again = cli(['run', file, '--db', db], {env: env(), timeoutMs: 300_000});
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assertComplete(db, 2, 8);
});

test('kill -9 of an attached coordinator, then resume: it re-attaches and nothing is submitted twice', {skip: noSlurm || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {name: 'kill', seeds: '[1, 2]', sweep: 'sweep: {model.residual: [false, true]}'});
  const run = cliAsync(['run', file, '--db', db], {env: env()});
  await waitFor(() => /running on localhost/.test(run.output().stdout), 120_000, 'a running trial');
  run.child.kill('SIGKILL');
  await run.exited;
  const c = open(db);
  assert.ok((c.prepare("SELECT count(*) AS n FROM trials WHERE status = 'running'").get() as {n: number}).n > 0, 'the kill came before the end');
  c.close();
  const again = cli(['resume', '--db', db], {env: env(), timeoutMs: 300_000});
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assertComplete(db, 4, 2);
  const c2 = open(db);
  assert.equal((c2.prepare('SELECT count(*) AS n FROM slurm_submissions').get() as {n: number}).n, 1);
  assert.deepEqual((c2.prepare('SELECT DISTINCT attempt FROM trials').all() as {attempt: number}[]).map((t) => t.attempt), [1]);
  c2.close();
});

test('killed right after sbatch, before the job id is recorded: resume finds the job by its name instead of submitting again', {skip: noSlurm || SLOW}, () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const file = study(dir, {name: 'sbatchkill', sweep: 'sweep: {model.residual: [false, true]}'});
  const first = cli(['run', file, '--db', db], {env: {...env(), ABLATE_FAILPOINT: 'slurm-submitted'}});
  assert.equal(first.code, 137, first.stderr + first.stdout);
  const c = open(db);
  assert.deepEqual(c.prepare('SELECT state, job_id FROM slurm_submissions').all(), [{state: 'preparing', job_id: null}]);
  c.close();
  const again = cli(['resume', '--db', db], {env: env(), timeoutMs: 300_000});
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assertComplete(db, 2, 2);
  assertOneSubmissionRanOnce(db, 2);
});

test('an sbatch that fails after Slurm took the job is not retried: the job is found by its name', {skip: noSlurm || SLOW}, () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const real = cluster.run('bash', ['-c', 'command -v sbatch']).trim();
  // sbatch that submits, then reports a timeout (as when slurmctld answers too late).
  writeFile(bin, 'sbatch', `#!/bin/bash\nif [[ " $* " == *" --test-only "* ]]; then exec ${real} "$@"; fi\n${real} "$@" > /dev/null\necho "sbatch: error: Socket timed out on send/recv operation" >&2\nexit 1\n`);
  fs.chmodSync(path.join(bin, 'sbatch'), 0o755);
  const file = study(dir, {name: 'lost-answer', sweep: 'sweep: {model.residual: [false, true]}'});
  const r = cli(['run', file, '--db', db], {env: {...env(), PATH: `${bin}:${process.env.PATH}`}, timeoutMs: 300_000});
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assertComplete(db, 2, 2);
  assertOneSubmissionRanOnce(db, 2);
});

test('--detach submits and exits; status ingests the run folders and shows where each trial is; report has the results', {skip: noSlurm || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  // Three trials for two GPUs: the third waits in the queue while the others train.
  const file = study(dir, {name: 'detach', seeds: '[1, 2, 3]', epochs: 3, trainSize: 256});
  const r = cli(['run', file, '--db', db, '--detach'], {env: env()});
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /3 trial\(s\) on Slurm \(submitted now: job \d+\)/);
  assert.match(r.stdout, /follow it with: ablate status 1/);
  const wheres = new Set<string>();
  await waitFor(
    () => {
      const s = cli(['status', '1', '--db', db, '--json'], {env: env()});
      assert.equal(s.code, 0, s.stderr);
      const sweep = JSON.parse(s.stdout).sweeps[0];
      for (const t of sweep.running) wheres.add(String(t.where).replace(/ \(job.*/, ''));
      return sweep.counts.done === 3;
    },
    180_000,
    'status to show every trial done',
  );
  assert.ok([...wheres].some((w) => /^(queued( \(\w+\))?|running on localhost)$/.test(w)), `status showed where trials are: ${[...wheres].join(', ')}`);
  assertComplete(db, 3, 3);
  const report = cli(['report', '--db', db, '--format', 'json'], {env: env()});
  assert.equal(report.code, 0, report.stderr);
  assert.equal(JSON.parse(report.stdout).variants[0].metrics.final_test_err.n, 3);
});

test('the torch engine on Slurm: each task trains in a Python worker (on the CPU: the fake GPUs are no CUDA devices), and one stopped at its time-limit warning resumes from its checkpoint', {skip: noSlurm || NO_TORCH || SLOW}, async () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  // 6 epochs of 128 steps (about a second each): a trial is still training when the stop comes after its first epoch.
  const file = study(dir, {
    name: 'torch', epochs: 6, trainSize: 2048, seeds: '[1, 2]', resources: '{executor: slurm, engine: torch}',
    slurm: 'slurm: {max_timeouts: 2, gpus_per_trial: 1, cpus_per_task: 1, poll_seconds: 0.5}',
  });
  const run = cliAsync(['run', file, '--db', db], {env: env()});
  const log = await waitFor(() => runFiles(db, 'events.jsonl').find((f) => fs.readFileSync(f, 'utf8').includes('"type":"epoch"')), 120_000, 'a first epoch');
  const started = events(log).find((e) => e.type === 'started')!;
  // USR1 to the batch shell: the job script passes it on to the Node.js worker only, which stops the Python worker.
  cluster.run('scancel', ['--signal=USR1', '--batch', started.job as string]);
  const r = await run.exited;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /on Slurm, engine torch \(resources\.engine of the study\)/);
  assert.match(r.stdout, /timeout \(reached its time limit \(1 of at most 2\); runs again from its checkpoint\)/);
  assertComplete(db, 2, 6);
  const first = events(log);
  const stop = first.find((e) => e.type === 'stopped')!;
  assert.equal(stop.reason, 'time-limit');
  assert.ok((stop.epochs as number) < 6, 'the stop came before the end');
  const engine = first.find((e) => e.type === 'engine')!;
  assert.notEqual(engine.pid, started.pid, 'the trial ran in a worker process of its own');
  assert.equal((engine.engine as {name: string}).name, 'torch');
  assert.equal(engine.device, started.device, "Slurm's CUDA_VISIBLE_DEVICES reached the Python worker unchanged");
  const second = events(log.replace('attempt-1', 'attempt-2'));
  const resumed = second.find((e) => e.type === 'resumed')!;
  assert.ok(resumed, 'attempt 2 resumed from the checkpoint');
  assert.ok((resumed.epoch as number) >= 1 && (resumed.epoch as number) === stop.epochs, `resumed after ${resumed.epoch} epoch(s), stopped after ${stop.epochs}`);
  const c = open(db);
  const trials = c.prepare('SELECT id, engine, engine_json FROM trials').all() as {id: number; engine: string; engine_json: string}[];
  // On the CPU with cpus_per_task threads, deterministic (resources.autotune is off): the run options came in the manifest.
  for (const t of trials) {
    const info = JSON.parse(t.engine_json) as {name: string; backend: string; threads: number};
    assert.deepEqual([t.engine, info.name, info.backend, info.threads], ['torch', 'torch', 'cpu', 1], `trial ${t.id}`);
  }
  const manifest = JSON.parse(fs.readFileSync(runFiles(db, `${(c.prepare('SELECT name FROM slurm_submissions ORDER BY id').get() as {name: string}).name}.json`)[0], 'utf8'));
  assert.deepEqual(manifest.tasks[0].job.torch, {compile: false, deterministic: true});
  assert.deepEqual(
    (c.prepare('SELECT outcome FROM slurm_tasks ORDER BY attempt, trial_id').all() as {outcome: string}[]).map((t) => t.outcome).sort(),
    ['done', 'done', 'timeout'],
  );
  assert.equal((c.prepare("SELECT count(*) AS n FROM events WHERE kind = 'resumed'").get() as {n: number}).n, 1);
  c.close();
});

test('bad slurm settings are one clear error before anything is submitted or written', {skip: noSlurm}, () => {
  const dir = tmpDir();
  const db = path.join(dir, 'ablate.db');
  const partition = study(dir, {name: 'badpart', slurm: 'slurm:\n  partition: lwo\n'});
  const a = cli(['run', partition, '--db', db], {env: env()});
  assert.equal(a.code, 2, a.stderr);
  assert.match(a.stderr, /badpart\.yaml:9:3: slurm\.partition: the cluster has no partition "lwo" \(did you mean "low"\?\); it has: low, high/);
  const gpus = study(dir, {name: 'badgpu', slurm: 'slurm: {gpus_per_trial: 3}'});
  const b = cli(['run', gpus, '--db', db], {env: env()});
  assert.equal(b.code, 2, b.stderr);
  assert.match(b.stderr, /Slurm refuses the study's slurm settings \(--gres=gpu:3\): .*(not available|Invalid)/i);
  const noClient = cli(['run', gpus, '--db', db], {env: {...env(), PATH: path.join(dir, 'empty')}});
  assert.equal(noClient.code, 1, noClient.stderr);
  assert.match(noClient.stderr, /error: scontrol is not on PATH; the slurm executor drives the cluster through Slurm's client commands/);
  assert.ok(!fs.existsSync(db), 'no database was written');
  assert.equal(cluster.run('squeue', ['-h', '--name=ablate-probe']).trim(), '');
});
