import {test} from 'node:test';
import assert from 'node:assert/strict';
import {batches, cropFlip, epochOrder, type Batch, type Split} from '../../src/data';
import type {InputShape} from '../../src/models/types';

/** n images whose pixel value encodes (image, y, x, channel), so every move is traceable. */
function tagged(n: number, shape: InputShape): Split {
  const {height: h, width: w, channels: c} = shape;
  const x = new Float32Array(n * h * w * c);
  for (let i = 0; i < n; i++) for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) x[((i * h + yy) * w + xx) * c + ch] = 1 + i * 1000 + yy * 100 + xx * 10 + ch;
  return {x, y: Int32Array.from({length: n}, (_, i) => i % 7), n};
}

const collect = (it: Iterable<Batch>): Batch[] => [...it];
const shape: InputShape = {height: 4, width: 5, channels: 2};

test('batches: without shuffle or augment, the split in order, last batch short', () => {
  const s = tagged(10, shape);
  const bs = collect(batches(s, shape, {batchSize: 4, shuffle: false, seed: 1, epoch: 0}));
  assert.deepEqual(bs.map((b) => b.n), [4, 4, 2]);
  const x = new Float32Array(bs.reduce((a, b) => a + b.x.length, 0));
  let o = 0;
  for (const b of bs) (x.set(b.x, o), (o += b.x.length));
  assert.deepEqual(x, s.x);
  assert.deepEqual(bs.flatMap((b) => [...b.y]), [...s.y]);
  assert.deepEqual(collect(batches(s, shape, {batchSize: 4, shuffle: false, seed: 1, epoch: 0, dropLast: true})).map((b) => b.n), [4, 4]);
});

test('batches: shuffled order is a permutation, the same on every call, different per epoch and seed', () => {
  const s = tagged(50, shape);
  const ids = (seed: number, epoch: number) =>
    collect(batches(s, shape, {batchSize: 8, shuffle: true, seed, epoch})).flatMap((b) => Array.from({length: b.n}, (_, i) => Math.floor((b.x[i * 40] - 1) / 1000)));
  const e0 = ids(3, 0);
  assert.deepEqual([...e0].sort((a, b) => a - b), Array.from({length: 50}, (_, i) => i));
  assert.deepEqual(ids(3, 0), e0, 'same (seed, epoch): same order');
  assert.notDeepEqual(ids(3, 1), e0, 'next epoch: another order');
  assert.notDeepEqual(ids(4, 0), e0, 'another seed: another order');
  // Labels travel with their images.
  for (const b of batches(s, shape, {batchSize: 8, shuffle: true, seed: 3, epoch: 2})) {
    for (let i = 0; i < b.n; i++) assert.equal(b.y[i], Math.floor((b.x[i * 40] - 1) / 1000) % 7);
  }
  assert.deepEqual(epochOrder(5, {shuffle: false, seed: 0, epoch: 0}), Int32Array.from([0, 1, 2, 3, 4]));
});

test('batches: resuming at epoch k equals the uninterrupted run (no hidden state)', () => {
  const s = tagged(30, shape);
  const opts = {batchSize: 7, shuffle: true, seed: 11, augment: {crop_padding: 2, flip: true}};
  const uninterrupted: Batch[][] = [];
  for (let epoch = 0; epoch < 4; epoch++) uninterrupted.push(collect(batches(s, shape, {...opts, epoch})));
  // A fresh process would call with epoch = 2 directly.
  const resumed = collect(batches(s, shape, {...opts, epoch: 2}));
  assert.deepEqual(resumed, uninterrupted[2]);
  assert.notDeepEqual(uninterrupted[2], uninterrupted[3]);
});

test('cropFlip: known crops, zero padding, flip', () => {
  const sh: InputShape = {height: 3, width: 3, channels: 1};
  const img = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const out = new Float32Array(9);
  const crop = (dy: number, dx: number, flip: boolean) => {
    cropFlip(img, 0, out, 0, sh, 1, dy, dx, flip);
    return [...out];
  };
  assert.deepEqual(crop(1, 1, false), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'centre crop is the image');
  assert.deepEqual(crop(0, 0, false), [0, 0, 0, 0, 1, 2, 0, 4, 5], 'top-left: one row and column of zeros');
  assert.deepEqual(crop(2, 2, false), [5, 6, 0, 8, 9, 0, 0, 0, 0], 'bottom-right');
  assert.deepEqual(crop(1, 1, true), [3, 2, 1, 6, 5, 4, 9, 8, 7], 'mirror');
  assert.deepEqual(crop(0, 2, true), [0, 0, 0, 0, 3, 2, 0, 6, 5], 'crop (rows 0-2, cols 2-4 of the padded image) then mirror');
  // Multi-channel: channels stay together.
  const sh2: InputShape = {height: 1, width: 2, channels: 3};
  const img2 = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const out2 = new Float32Array(6);
  cropFlip(img2, 0, out2, 0, sh2, 0, 0, 0, true);
  assert.deepEqual([...out2], [4, 5, 6, 1, 2, 3]);
});

test('batches: augmentation draws every crop offset and both flips, and only valid crops', () => {
  const sh: InputShape = {height: 6, width: 6, channels: 1};
  const s = tagged(200, sh);
  const pad = 2;
  const seen = new Set<string>();
  let flipped = 0;
  for (const b of batches(s, sh, {batchSize: 50, shuffle: true, seed: 9, epoch: 0, augment: {crop_padding: pad, flip: true}})) {
    for (let i = 0; i < b.n; i++) {
      const img = b.x.subarray(i * 36, (i + 1) * 36);
      // Find the source image from any non-zero pixel and recover (dy, dx, flip) by matching.
      const v = img.find((p) => p !== 0)!;
      const id = Math.floor((v - 1) / 1000);
      const src = s.x.subarray(id * 36, (id + 1) * 36);
      const out = new Float32Array(36);
      let match = '';
      for (let dy = 0; dy <= 2 * pad && !match; dy++) for (let dx = 0; dx <= 2 * pad && !match; dx++) for (const f of [false, true]) {
        cropFlip(src, 0, out, 0, sh, pad, dy, dx, f);
        if (out.every((p, k) => p === img[k])) {
          match = `${dy},${dx}`;
          if (f) flipped++;
          break;
        }
      }
      assert.ok(match, `image ${i} is not a crop of image ${id}`);
      seen.add(match);
    }
  }
  assert.equal(seen.size, 25, `offsets seen: ${[...seen]}`);
  assert.ok(flipped > 60 && flipped < 140, `flipped ${flipped} of 200`);
});

test('batches: augment with padding only never flips; flip only never shifts', () => {
  const s = tagged(20, shape);
  for (const b of batches(s, shape, {batchSize: 20, shuffle: false, seed: 2, epoch: 0, augment: {crop_padding: 0, flip: true}})) {
    for (let i = 0; i < b.n; i++) {
      const a = b.x[i * 40];
      const id = Math.floor((a - 1) / 1000);
      // Top-left pixel is either (0,0) or, mirrored, (0,4); never zero.
      assert.ok(a === 1 + id * 1000 || a === 1 + id * 1000 + 40, `pixel ${a}`);
    }
  }
  const s1 = tagged(20, shape);
  for (const b of batches(s1, shape, {batchSize: 20, shuffle: false, seed: 2, epoch: 0, augment: {crop_padding: 1, flip: false}})) {
    for (let i = 0; i < b.n; i++) {
      // Row 1 of every crop, read left to right, increases (never mirrored) where non-zero.
      const row = [...b.x.subarray(i * 40 + 10, i * 40 + 20)].filter((_, k) => k % 2 === 0).filter((p) => p !== 0);
      for (let k = 1; k < row.length; k++) assert.ok(row[k] > row[k - 1]);
    }
  }
});

test('batches: rejects a bad batch size and a split that does not match the shape', () => {
  const s = tagged(4, shape);
  assert.throws(() => collect(batches(s, shape, {batchSize: 0, shuffle: false, seed: 0, epoch: 0})), /batchSize must be a positive integer/);
  assert.throws(() => collect(batches(s, {height: 4, width: 4, channels: 2}, {batchSize: 2, shuffle: false, seed: 0, epoch: 0})), /expected 4 images of 4x4x2/);
});
