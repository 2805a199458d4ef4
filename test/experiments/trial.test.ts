/**
 * The training loop: a trial stopped mid-epoch and resumed from its checkpoint ends exactly where an
 * uninterrupted run of the same seed ends (same epoch rows, same weights), and a diverging trial is a result.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import {test} from 'node:test';
import {parseStudy} from '../../src/experiments/config';
import {expandStudy, type TrialSpec} from '../../src/experiments/sweep';
import {checkpointWeights, runTrial, type TrialEvent} from '../../src/experiments/trial';
import type {EpochRow} from '../../src/store/store';
import {tmpDir} from '../helpers';

const ENGINE = 'native-cpu' as const;

function spec(extra = ''): TrialSpec {
  const text = `name: t
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 96, test_size: 32, augment: {crop_padding: 1, flip: true}}
model: {family: cifar, depth: 8, widen_factor: 0.5, dropout: 0}
train:
  epochs: 3
  batch_size: 16
  optimizer: {lr: 0.05}
  schedule: {name: multistep, milestones: [2]}
seeds: [7]
${extra}`;
  return expandStudy(parseStudy(text, 't.yaml'))[0];
}

async function run(s: TrialSpec, file: string, stopAfterSteps?: number) {
  const rows = new Map<number, EpochRow>();
  const events: TrialEvent[] = [];
  let steps = 0;
  const outcome = await runTrial(s, {
    engine: ENGINE,
    threads: 1,
    checkpointFile: file,
    progressEveryMs: 0,
    shouldStop: () => stopAfterSteps !== undefined && ++steps >= stopAfterSteps,
    emit: (e) => {
      events.push(e);
      if (e.type === 'epoch') rows.set(e.row.epoch, e.row);
    },
  });
  return {outcome, rows, events};
}

const comparable = (r: EpochRow) => [r.epoch, r.train_loss, r.train_err, r.test_loss, r.test_err, r.lr];

test('a trial stopped mid-epoch and resumed equals an uninterrupted run', async () => {
  const dir = tmpDir();
  const s = spec();
  const whole = await run(s, path.join(dir, 'whole.ckpt'));
  assert.equal(whole.outcome.status, 'done');
  assert.deepEqual([...whole.rows.keys()], [1, 2, 3]);

  const file = path.join(dir, 'cut.ckpt');
  // 6 steps per epoch: stop in the middle of epoch 2, then again at another point, then finish.
  const first = await run(s, file, 9);
  assert.equal(first.outcome.status, 'stopped');
  const second = await run(s, file, 4);
  assert.equal(second.outcome.status, 'stopped');
  const last = await run(s, file);
  assert.equal(last.outcome.status, 'done');
  // Each continuation says where it picked up (the store records it as a `resumed` event).
  const resumed = (r: {events: TrialEvent[]}) => r.events.filter((e) => e.type === 'resumed');
  assert.deepEqual(resumed(whole), []);
  assert.deepEqual(resumed(first), []);
  assert.deepEqual(resumed(second), [{type: 'resumed', epoch: 1, step: 3}]);
  assert.equal(resumed(last).length, 1);
  // The resumed run replays the rows it knows and adds the rest: every epoch once.
  const merged = new Map([...first.rows, ...second.rows, ...last.rows]);
  assert.deepEqual([...merged.keys()].sort(), [1, 2, 3]);
  // Same engine, thread count and data order, kernels chosen without timing: equal to the last bit.
  for (const epoch of [1, 2, 3]) assert.deepEqual(comparable(merged.get(epoch)!), comparable(whole.rows.get(epoch)!), `epoch ${epoch}`);
  const wa = checkpointWeights(path.join(dir, 'whole.ckpt'))!;
  const wb = checkpointWeights(file)!;
  assert.deepEqual([...wa.keys()], [...wb.keys()]);
  for (const [k, v] of wa) {
    const u = wb.get(k)!;
    assert.ok(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(u.buffer, u.byteOffset, u.byteLength)), `final weights differ: ${k}`);
  }
});

test('a trial whose loss becomes NaN ends as diverged with the epochs it reached', async () => {
  const s = spec();
  s.train = {...s.train, optimizer: {...s.train.optimizer, lr: 1e30}};
  const r = await run(s, path.join(tmpDir(), 'nan.ckpt'));
  assert.equal(r.outcome.status, 'diverged');
  assert.match(r.outcome.error!, /loss became (NaN|Infinity|-Infinity)/);
});

test('every epoch row carries the metrics the report needs', async () => {
  const r = await run(spec(), path.join(tmpDir(), 'm.ckpt'));
  for (const row of r.rows.values()) {
    for (const k of ['train_loss', 'train_err', 'test_loss', 'test_err', 'lr', 'seconds', 'images_per_sec'] as const) {
      assert.ok(Number.isFinite(row[k]), `${k} = ${row[k]}`);
    }
    assert.ok(row.train_err! >= 0 && row.train_err! <= 1);
  }
  assert.ok(Math.abs(r.rows.get(3)!.lr! - 0.005) < 1e-12, 'multistep: lr / 10 after the milestone');
  assert.equal(r.events[0].type, 'engine');
});
