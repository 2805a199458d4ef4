/**
 * A seed defines a trial's data order, augmentation and initialisation, and nothing else does: cells of one
 * sweep that share a seed see the same images in the same order with the same crops and flips, whatever
 * they vary (depth, learning rate, batch size); cells of one architecture that share a seed start from the
 * same weights; other seeds give other orders and weights.
 */
import assert from 'node:assert/strict';
import {before, test} from 'node:test';
import {loadDataset} from '../../src/data';
import {parseStudy} from '../../src/experiments/config';
import {expandStudy, type TrialSpec} from '../../src/experiments/sweep';
import {trainBatches, trialModel} from '../../src/experiments/trial';
import {useCpuBackend} from '../models/backend';

const STUDY = `name: seeds
dataset: {name: synthetic, image: [8, 8, 3], classes: 4, train_size: 100, test_size: 16, augment: {crop_padding: 2, flip: true}}
model: {family: cifar, depth: 8, width: 0.5}
train: {epochs: 2, batch_size: 16}
seeds: [1, 2]
sweep:
  model.depth: [8, 14]
  train.optimizer.lr: [0.1, 0.02]
  train.batch_size: [16, 32]
`;

before(useCpuBackend);

/** Every image and label an epoch feeds the network, in order, as bytes (batches concatenated). */
function stream(spec: TrialSpec, epoch: number): Buffer {
  const data = loadDataset(spec.dataset);
  const parts: Buffer[] = [];
  for (const b of trainBatches(spec, data, epoch)) {
    parts.push(Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength), Buffer.from(b.y.buffer, b.y.byteOffset, b.y.byteLength));
  }
  return Buffer.concat(parts);
}

/** Same images in the same order: equal streams once batch boundaries are ignored. */
function sameSamples(a: TrialSpec, b: TrialSpec, epoch: number): boolean {
  const flat = (s: TrialSpec) => {
    const data = loadDataset(s.dataset);
    const xs: number[] = [];
    const ys: number[] = [];
    for (const batch of trainBatches(s, data, epoch)) {
      xs.push(...batch.x);
      ys.push(...batch.y);
    }
    return {xs, ys};
  };
  const p = flat(a), q = flat(b);
  const n = Math.min(p.ys.length, q.ys.length);
  const px = p.xs.length / p.ys.length;
  return n > 0 && p.ys.slice(0, n).every((v, i) => v === q.ys[i]) && p.xs.slice(0, n * px).every((v, i) => Object.is(v, q.xs[i]));
}

test('cells of a sweep that share a seed see the same data order and augmentation; other seeds do not', () => {
  const specs = expandStudy(parseStudy(STUDY, 'seeds.yaml'));
  assert.equal(specs.length, 16);
  const bySeed = new Map<number, TrialSpec[]>();
  for (const s of specs) bySeed.set(s.seed, [...(bySeed.get(s.seed) ?? []), s]);
  for (const epoch of [0, 1]) {
    for (const [seed, cells] of bySeed) {
      for (const other of cells.slice(1)) {
        assert.ok(sameSamples(cells[0], other, epoch), `seed ${seed}, epoch ${epoch}: ${JSON.stringify(cells[0].variant)} and ${JSON.stringify(other.variant)} see different data`);
      }
      // Same batch size: the very same batches.
      const sameBatch = cells.filter((c) => c.train.batch_size === cells[0].train.batch_size);
      assert.ok(sameBatch.length > 1);
      for (const other of sameBatch.slice(1)) assert.ok(stream(cells[0], epoch).equals(stream(other, epoch)));
    }
    assert.ok(!sameSamples(bySeed.get(1)![0], bySeed.get(2)![0], epoch), `epoch ${epoch}: seeds 1 and 2 give the same order`);
  }
  assert.ok(sameSamples(specs[0], specs[0], 0), 'a cell agrees with itself');
  assert.ok(!stream(specs[0], 0).equals(stream(specs[0], 1)), 'each epoch has its own order');
});

test('cells of one architecture that share a seed start from the same weights; another seed does not', () => {
  const specs = expandStudy(parseStudy(STUDY, 'seeds.yaml'));
  const weights = (s: TrialSpec) => {
    const model = trialModel(s, loadDataset(s.dataset));
    const out = new Map([...model.trainable].map(([k, v]) => [k, Buffer.from((v.dataSync() as Float32Array).buffer.slice(0))]));
    model.dispose();
    return out;
  };
  const depth8 = specs.filter((s) => s.model.depth === 8);
  const seed1 = depth8.filter((s) => s.seed === 1);
  assert.equal(seed1.length, 4, 'depth 8, seed 1: two learning rates x two batch sizes');
  const ref = weights(seed1[0]);
  for (const other of seed1.slice(1)) {
    const w = weights(other);
    for (const [k, v] of ref) assert.ok(v.equals(w.get(k)!), `${JSON.stringify(other.variant)}: ${k} starts elsewhere`);
  }
  const seed2 = weights(depth8.find((s) => s.seed === 2)!);
  assert.ok(!ref.get('stem.conv.weight')!.equals(seed2.get('stem.conv.weight')!), 'seed 2 starts from other weights');
});
