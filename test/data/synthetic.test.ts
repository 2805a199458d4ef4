import {test} from 'node:test';
import assert from 'node:assert/strict';
import {loadDataset, syntheticSplit, clearDatasetCache, type Split} from '../../src/data';
import type {InputShape} from '../../src/models/types';

const small: InputShape = {height: 8, width: 8, channels: 3};

/** Accuracy of the nearest class mean (computed on train) over the test split. */
function nearestMeanAccuracy(train: Split, test: Split, px: number, classes: number): number {
  const mean = new Float64Array(classes * px);
  const count = new Float64Array(classes);
  for (let i = 0; i < train.n; i++) {
    count[train.y[i]]++;
    for (let k = 0; k < px; k++) mean[train.y[i] * px + k] += train.x[i * px + k];
  }
  for (let c = 0; c < classes; c++) for (let k = 0; k < px; k++) mean[c * px + k] /= count[c];
  let ok = 0;
  for (let i = 0; i < test.n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let c = 0; c < classes; c++) {
      let d = 0;
      for (let k = 0; k < px; k++) d += (test.x[i * px + k] - mean[c * px + k]) ** 2;
      if (d < bestD) [bestD, best] = [d, c];
    }
    if (best === test.y[i]) ok++;
  }
  return ok / test.n;
}

/** Multinomial logistic regression, plain SGD, a fixed number of epochs; returns test accuracy. */
function logisticAccuracy(train: Split, test: Split, px: number, classes: number, epochs: number): number {
  const W = new Float64Array(classes * px);
  const b = new Float64Array(classes);
  const logits = new Float64Array(classes);
  const lr = 0.01;
  const forward = (x: Float32Array, off: number) => {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = b[c];
      for (let k = 0; k < px; k++) s += W[c * px + k] * x[off + k];
      logits[c] = s;
      max = Math.max(max, s);
    }
    let z = 0;
    for (let c = 0; c < classes; c++) z += (logits[c] = Math.exp(logits[c] - max));
    for (let c = 0; c < classes; c++) logits[c] /= z;
  };
  for (let e = 0; e < epochs; e++) {
    for (let i = 0; i < train.n; i++) {
      forward(train.x, i * px);
      for (let c = 0; c < classes; c++) {
        const g = logits[c] - (c === train.y[i] ? 1 : 0);
        b[c] -= lr * g;
        for (let k = 0; k < px; k++) W[c * px + k] -= lr * g * train.x[i * px + k];
      }
    }
  }
  let ok = 0;
  for (let i = 0; i < test.n; i++) {
    forward(test.x, i * px);
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[c] > logits[best]) best = c;
    if (best === test.y[i]) ok++;
  }
  return ok / test.n;
}

test('synthetic: deterministic, independent of split size, train and test differ', () => {
  const a = syntheticSplit(small, 4, 'train', 64);
  const b = syntheticSplit(small, 4, 'train', 64);
  assert.deepEqual(a.x, b.x);
  assert.deepEqual(a.y, b.y);
  const longer = syntheticSplit(small, 4, 'train', 100);
  assert.deepEqual(longer.x.subarray(0, a.x.length), a.x, 'sample i does not depend on the split size');
  assert.deepEqual(longer.y.subarray(0, 64), a.y);
  const t = syntheticSplit(small, 4, 'test', 64);
  assert.notDeepEqual(t.x, a.x);
  assert.ok(a.x.every(Number.isFinite));
});

test('synthetic: labels are in range and class-balanced in every prefix', () => {
  const s = syntheticSplit(small, 10, 'train', 1005);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < s.n; i++) {
    assert.ok(s.y[i] >= 0 && s.y[i] < 10);
    counts[s.y[i]]++;
  }
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `counts ${counts}`);
  assert.notDeepEqual([...s.y.subarray(0, 20)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'labels are not a fixed cycle');
});

test('synthetic: learnable but not trivial (nearest class mean, logistic regression)', () => {
  clearDatasetCache();
  const ds = loadDataset({name: 'synthetic', image: [8, 8, 3], classes: 4, train_size: 1024, test_size: 512});
  const px = 8 * 8 * 3;
  const nm = nearestMeanAccuracy(ds.train, ds.test, px, 4);
  const lr = logisticAccuracy(ds.train, ds.test, px, 4, 2);
  // Chance is 0.25. Well above chance after 2 epochs of a linear model, yet not solved outright.
  assert.ok(nm > 0.6 && nm < 0.95, `nearest class mean accuracy ${nm}`);
  assert.ok(lr > 0.5 && lr < 0.97, `logistic regression accuracy ${lr}`);
});

test('synthetic: a different shape and many classes are also learnable', () => {
  const tr = syntheticSplit({height: 16, width: 16, channels: 1}, 20, 'train', 800);
  const te = syntheticSplit({height: 16, width: 16, channels: 1}, 20, 'test', 400);
  const acc = nearestMeanAccuracy(tr, te, 256, 20);
  assert.ok(acc > 0.25, `20 classes, chance 0.05: accuracy ${acc}`);
});

test('synthetic: ImageNet shape (224x224x3, 1000 classes) with default sizes stays small and fast', () => {
  clearDatasetCache();
  const t0 = Date.now();
  const ds = loadDataset({name: 'synthetic', image: [224, 224, 3], classes: 1000});
  const ms = Date.now() - t0;
  assert.equal(ds.train.n, 111);
  assert.equal(ds.test.n, 55);
  assert.equal(ds.classes, 1000);
  assert.ok(ds.train.x.length * 4 <= 64 * 2 ** 20);
  assert.ok(ms < 20000, `generation took ${ms} ms`);
  clearDatasetCache();
});
