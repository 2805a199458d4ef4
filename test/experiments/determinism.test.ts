/**
 * Reproducible by default: a realistic trial (ResNet-20 on 32x32x3 synthetic images, batch 128, standard
 * augmentation, momentum, weight decay, a learning-rate step; 80 steps a run, 320 in all) run twice, each time in a fresh
 * worker process on two threads, gives bit-identical per-epoch metrics and weights; and the same trial
 * stopped mid-epoch and resumed in another fresh process ends bit-identical to them too.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import {test} from 'node:test';
import {loadCheckpoint} from '../../src/experiments/checkpoint';
import {parseStudy} from '../../src/experiments/config';
import {createProcessExecutor} from '../../src/experiments/executor';
import {expandStudy} from '../../src/experiments/sweep';
import {checkpointWeights, type TrialEvent, type TrialOutcome} from '../../src/experiments/trial';
import type {TrialJob} from '../../src/experiments/worker-task';
import type {EngineInfo} from '../../src/engine';
import type {EpochRow} from '../../src/store/store';
import {tmpDir} from '../helpers';

const SLOW = !process.env.ABLATE_SLOW && 'slow: set ABLATE_SLOW=1 (npm test does)';

const STUDY = `name: determinism
dataset: {name: synthetic, image: [32, 32, 3], classes: 10, train_size: 5120, test_size: 500, augment: {crop_padding: 4, flip: true}}
model: {preset: resnet20}
train:
  epochs: 2
  batch_size: 128
  optimizer: {lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4}
  schedule: {name: multistep, milestones: [1.5]}
seeds: [11]
`;
const STEPS = 5120 / 128;

interface Run {
  outcome: TrialOutcome;
  rows: Map<number, EpochRow>;
  engine?: EngineInfo;
}

/** One run in a fresh worker process (a fresh engine: nothing chosen or cached by an earlier run). */
async function run(file: string, stopInEpoch?: number): Promise<Run> {
  const executor = createProcessExecutor({workers: 1});
  const job: TrialJob = {trialId: 1, spec: expandStudy(parseStudy(STUDY, 'determinism.yaml'))[0], engine: 'native-cpu', threads: 2, checkpointFile: file};
  const rows = new Map<number, EpochRow>();
  let engine: EngineInfo | undefined;
  try {
    let stop = () => undefined as void;
    const onEvent = (e: TrialEvent) => {
      if (e.type === 'engine') engine = e.engine;
      if (e.type === 'epoch') rows.set(e.row.epoch, e.row);
      if (e.type === 'progress' && e.epoch === stopInEpoch && e.step >= 5) stop();
    };
    const handle = executor.start(job, 0, onEvent);
    stop = () => handle.stop();
    return {outcome: await handle.done, rows, engine};
  } finally {
    await executor.close();
  }
}

const metrics = (r: EpochRow) => ({epoch: r.epoch, train_loss: r.train_loss, train_err: r.train_err, test_loss: r.test_loss, test_err: r.test_err, lr: r.lr});

function assertSameWeights(fileA: string, fileB: string, what: string): void {
  const a = checkpointWeights(fileA)!;
  const b = checkpointWeights(fileB)!;
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) {
    const u = b.get(k)!;
    assert.ok(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(u.buffer, u.byteOffset, u.byteLength)), `${what}: ${k} differs`);
  }
}

test('a ResNet-20 trial run twice, and once stopped and resumed, gives bit-identical metrics and weights', {skip: SLOW, timeout: 1_800_000}, async () => {
  const dir = tmpDir();
  const first = await run(path.join(dir, 'a.ckpt'));
  assert.equal(first.outcome.status, 'done');
  assert.equal(first.engine?.name, 'native-cpu', 'the native engine ran');
  assert.equal(first.engine?.autotune, false, 'kernels were chosen without timing them');
  const second = await run(path.join(dir, 'b.ckpt'));
  assert.equal(second.outcome.status, 'done');
  for (const epoch of [1, 2]) assert.deepEqual(metrics(second.rows.get(epoch)!), metrics(first.rows.get(epoch)!), `epoch ${epoch}`);
  assertSameWeights(path.join(dir, 'a.ckpt'), path.join(dir, 'b.ckpt'), 'two runs');

  const cut = path.join(dir, 'c.ckpt');
  const stopped = await run(cut, 2);
  assert.equal(stopped.outcome.status, 'stopped');
  const at = loadCheckpoint(cut)!;
  assert.ok(at.epoch === 1 && at.step > 0 && at.step < STEPS, `stopped mid-epoch 2 (epoch ${at.epoch}, step ${at.step})`);
  const resumed = await run(cut);
  assert.equal(resumed.outcome.status, 'done');
  const merged = new Map([...stopped.rows, ...resumed.rows]);
  for (const epoch of [1, 2]) assert.deepEqual(metrics(merged.get(epoch)!), metrics(first.rows.get(epoch)!), `resumed, epoch ${epoch}`);
  assertSameWeights(path.join(dir, 'a.ckpt'), cut, 'stopped and resumed');
});
