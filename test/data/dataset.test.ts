import {test} from 'node:test';
import assert from 'node:assert/strict';
import {Worker} from 'node:worker_threads';
import {clearDatasetCache, isShared, loadDataset, syntheticSplit} from '../../src/data';
import {UsageError} from '../../src/errors';

function channelMoments(x: Float32Array, channels: number): {mean: number[]; std: number[]} {
  const n = x.length / channels;
  const mean = new Array(channels).fill(0);
  const sq = new Array(channels).fill(0);
  for (let i = 0; i < x.length; i++) {
    mean[i % channels] += x[i];
    sq[i % channels] += x[i] * x[i];
  }
  return {mean: mean.map((m) => m / n), std: sq.map((s, c) => Math.sqrt(s / n - (mean[c] / n) ** 2))};
}

test('loadDataset (synthetic): subset sizes, shape, normalisation with training statistics', () => {
  clearDatasetCache();
  const ds = loadDataset({name: 'synthetic', image: [8, 8, 3], classes: 4, train_size: 256, test_size: 128});
  assert.equal(ds.name, 'synthetic');
  assert.deepEqual(ds.shape, {height: 8, width: 8, channels: 3});
  assert.equal(ds.classes, 4);
  assert.equal(ds.train.n, 256);
  assert.equal(ds.train.x.length, 256 * 192);
  assert.equal(ds.test.n, 128);
  assert.equal(ds.test.y.length, 128);
  const m = channelMoments(ds.train.x, 3);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(m.mean[c]) < 1e-4, `train channel ${c} mean ${m.mean[c]}`);
    assert.ok(Math.abs(m.std[c] - 1) < 1e-4, `train channel ${c} std ${m.std[c]}`);
  }
  // The test split is normalised with the training statistics: close to, not exactly, 0/1.
  const raw = syntheticSplit(ds.shape, 4, 'test', 128);
  for (let k = 0; k < 30; k++) assert.ok(Math.abs(ds.test.x[k] - (raw.x[k] - ds.mean[k % 3]) / ds.std[k % 3]) < 1e-5);
});

test('loadDataset: normalize false keeps the values; cache returns the same object', () => {
  clearDatasetCache();
  const cfg = {name: 'synthetic' as const, image: [6, 6, 1] as [number, number, number], classes: 3, train_size: 40, test_size: 10, normalize: false};
  const ds = loadDataset(cfg);
  assert.deepEqual(ds.train.x, syntheticSplit(ds.shape, 3, 'train', 40).x);
  assert.deepEqual(ds.mean, [0]);
  assert.deepEqual(ds.std, [1]);
  assert.equal(loadDataset(cfg), ds, 'cached');
  assert.equal(loadDataset({...cfg, augment: {crop_padding: 1, flip: true}}), ds, 'augmentation is not part of the data');
  assert.notEqual(loadDataset({...cfg, train_size: 41}), ds);
});

test('loadDataset: invalid section is a UsageError', () => {
  assert.throws(() => loadDataset({name: 'synthetic', train_size: 0}), UsageError);
});

test('loadDataset shared: one copy in SharedArrayBuffers, equal to the private load, that worker threads read in place', async () => {
  clearDatasetCache();
  const cfg = {name: 'synthetic' as const, image: [8, 8, 3] as [number, number, number], classes: 4, train_size: 64, test_size: 16};
  const own = loadDataset(cfg);
  assert.equal(isShared(own), false);
  const shared = loadDataset(cfg, {shared: true});
  assert.equal(isShared(shared), true, 'a private copy in the cache is not handed out as shared');
  assert.deepEqual(Array.from(shared.train.x), Array.from(own.train.x));
  assert.deepEqual(Array.from(shared.test.y), Array.from(own.test.y));
  assert.equal(loadDataset(cfg, {shared: true}), shared, 'cached');
  assert.equal(loadDataset(cfg), shared, 'a shared copy serves private requests too');
  // Posted to a worker thread, the dataset is the same memory: what the worker writes, this thread reads.
  const code = `const {parentPort, workerData} = require('node:worker_threads');
    workerData.train.x[5] = 12345; workerData.test.y[3] = 77; parentPort.postMessage('ok');`;
  const w = new Worker(code, {eval: true, workerData: shared});
  await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  assert.equal(shared.train.x[5], 12345);
  assert.equal(shared.test.y[3], 77);
  clearDatasetCache();
});
