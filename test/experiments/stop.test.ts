/**
 * The stop protocol (experiments/stop.ts) on every executor: a stop request lands in the middle of an epoch
 * (the checkpoint records a step inside it), the trial reports `stopped` within moments rather than at its
 * end, and the resumed trial ends with exactly the metrics and weights of an uninterrupted run. Worker
 * processes also stop on the signals they were told to stop on, and exit with EXIT_STOPPED.
 */
import assert from 'node:assert/strict';
import {fork} from 'node:child_process';
import * as path from 'node:path';
import {test} from 'node:test';
import {loadCheckpoint} from '../../src/experiments/checkpoint';
import {parseStudy} from '../../src/experiments/config';
import {createProcessExecutor, createThreadExecutor, type Executor} from '../../src/experiments/executor';
import {EXIT_STOPPED, stopSignals} from '../../src/experiments/stop';
import {expandStudy, type TrialSpec} from '../../src/experiments/sweep';
import {checkpointWeights, type TrialEvent, type TrialOutcome} from '../../src/experiments/trial';
import type {TrialJob, WorkerMessage} from '../../src/experiments/worker-task';
import type {EpochRow} from '../../src/store/store';
import {tmpDir} from '../helpers';

/** 512 images in batches of 16: 32 steps an epoch, two epochs; a step takes milliseconds. */
function spec(): TrialSpec {
  const text = `name: stop
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 512, test_size: 64, augment: {crop_padding: 1, flip: true}}
model: {family: cifar, depth: 8, width: 0.5}
train: {epochs: 2, batch_size: 16, optimizer: {lr: 0.05}, schedule: {name: multistep, milestones: [1.5]}}
seeds: [3]
`;
  return expandStudy(parseStudy(text, 'stop.yaml'))[0];
}
const STEPS = 32;
/** A stopped trial must report within this long after the request (a whole run takes many times more). */
const PROMPT_MS = 5_000;

function job(file: string): TrialJob {
  return {trialId: 1, spec: spec(), engine: 'native-cpu', threads: 1, checkpointFile: file};
}

interface Run {
  outcome: TrialOutcome;
  rows: Map<number, EpochRow>;
  /** Milliseconds from the stop request to the outcome. */
  stopMs?: number;
}

/** Runs a job on slot 0; with `stopAtProgress`, asks it to stop at its first progress event. */
async function run(executor: Executor, j: TrialJob, stopAtProgress = false): Promise<Run> {
  const rows = new Map<number, EpochRow>();
  let stoppedAt: number | undefined;
  let stop: () => void = () => undefined;
  const onEvent = (e: TrialEvent) => {
    if (e.type === 'epoch') rows.set(e.row.epoch, e.row);
    if (e.type === 'progress' && stopAtProgress && stoppedAt === undefined) {
      stoppedAt = performance.now();
      stop();
    }
  };
  const handle = executor.start(j, 0, onEvent);
  stop = () => handle.stop();
  const outcome = await handle.done;
  return {outcome, rows, stopMs: stoppedAt === undefined ? undefined : performance.now() - stoppedAt};
}

const metrics = (r: EpochRow) => [r.epoch, r.train_loss, r.train_err, r.test_loss, r.test_err, r.lr];

async function stopAndResumeEqualsWhole(executor: Executor): Promise<void> {
  const dir = tmpDir();
  const whole = await run(executor, job(path.join(dir, 'whole.ckpt')));
  assert.equal(whole.outcome.status, 'done');

  const file = path.join(dir, 'cut.ckpt');
  const cut = await run(executor, job(file), true);
  assert.equal(cut.outcome.status, 'stopped', 'the stop request ended the trial before its end');
  assert.ok(cut.stopMs! < PROMPT_MS, `stopped ${cut.stopMs!.toFixed(0)} ms after the request`);
  const ckpt = loadCheckpoint(file)!;
  assert.equal(ckpt.epoch, 0, 'stopped in the first epoch');
  assert.ok(ckpt.step > 0 && ckpt.step < STEPS, `the checkpoint is mid-epoch (step ${ckpt.step} of ${STEPS})`);

  const rest = await run(executor, job(file));
  assert.equal(rest.outcome.status, 'done');
  const merged = new Map([...cut.rows, ...rest.rows]);
  assert.deepEqual([...merged.keys()].sort(), [1, 2]);
  for (const epoch of [1, 2]) assert.deepEqual(metrics(merged.get(epoch)!), metrics(whole.rows.get(epoch)!), `epoch ${epoch}`);
  const a = checkpointWeights(path.join(dir, 'whole.ckpt'))!;
  const b = checkpointWeights(file)!;
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.ok(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(b.get(k)!.buffer, b.get(k)!.byteOffset, b.get(k)!.byteLength)), `${k} differs`);
}

test('thread executor: a stop lands mid-epoch, promptly, and the resumed trial equals an uninterrupted one exactly', async () => {
  const executor = await createThreadExecutor({workers: 1});
  try {
    await stopAndResumeEqualsWhole(executor);
  } finally {
    await executor.close();
  }
});

test('process executor: a stop lands mid-epoch, promptly, and the resumed trial equals an uninterrupted one exactly', async () => {
  const executor = createProcessExecutor({workers: 1});
  try {
    await stopAndResumeEqualsWhole(executor);
  } finally {
    await executor.close();
  }
});

/** Runs one job in a bare worker process (as a cluster runs it), sending `signal` at the first progress event. */
function signalledChild(file: string, signal: NodeJS.Signals, env: Record<string, string>) {
  const child = fork(path.resolve(__dirname, '..', '..', 'src', 'experiments', 'child.js'), [], {
    env: {...process.env, ...env},
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: WorkerMessage[] = [];
  let signalledAt: number | undefined;
  let resultAt: number | undefined;
  child.on('message', (m: WorkerMessage) => {
    messages.push(m);
    if (m.type === 'progress' && signalledAt === undefined) {
      signalledAt = performance.now();
      child.kill(signal);
    }
    if (m.type === 'result') resultAt = performance.now();
  });
  child.send({type: 'run', job: job(file)});
  const exited = new Promise<{code: number | null; signal: string | null}>((resolve) => child.on('exit', (code, sig) => resolve({code, signal: sig})));
  return {child, messages, exited, latency: () => (resultAt ?? Infinity) - (signalledAt ?? 0)};
}

test('a worker process told to stop on SIGTERM (as under Slurm) checkpoints mid-epoch, reports stopped, exits 75', async () => {
  const file = path.join(tmpDir(), 'sig.ckpt');
  const c = signalledChild(file, 'SIGTERM', {ABLATE_STOP_SIGNALS: 'SIGUSR1,SIGTERM'});
  const {code, signal} = await c.exited;
  assert.equal(signal, null);
  assert.equal(code, EXIT_STOPPED);
  const result = c.messages.find((m) => m.type === 'result');
  assert.deepEqual(result && result.type === 'result' && result.outcome.status, 'stopped');
  assert.ok(c.latency() < PROMPT_MS, `result ${c.latency().toFixed(0)} ms after the signal`);
  const ckpt = loadCheckpoint(file)!;
  assert.ok(ckpt.epoch === 0 && ckpt.step > 0 && ckpt.step < STEPS, `mid-epoch checkpoint (epoch ${ckpt.epoch}, step ${ckpt.step})`);
});

test('a worker process not told about SIGTERM ignores it (the coordinator decides) and stops on SIGUSR1 when idle', async () => {
  const file = path.join(tmpDir(), 'ign.ckpt');
  const c = signalledChild(file, 'SIGTERM', {});
  const done = await new Promise<WorkerMessage>((resolve) => c.child.on('message', (m: WorkerMessage) => m.type === 'result' && resolve(m)));
  assert.equal(done.type === 'result' && done.outcome.status, 'done');
  c.child.kill('SIGUSR1');
  const {code} = await c.exited;
  assert.equal(code, EXIT_STOPPED);
});

test('ABLATE_STOP_SIGNALS is parsed strictly: default SIGUSR1, names with or without SIG, unknown names refused', () => {
  assert.deepEqual(stopSignals({}), ['SIGUSR1']);
  assert.deepEqual(stopSignals({ABLATE_STOP_SIGNALS: 'usr1, SIGTERM,term'}), ['SIGUSR1', 'SIGTERM']);
  assert.throws(() => stopSignals({ABLATE_STOP_SIGNALS: 'SIGUSR1,SIGKILL'}), /SIGKILL is not a signal a worker can stop on/);
});
