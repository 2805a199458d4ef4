/**
 * Geometry of the native kernels, on its own (pure functions; no addon, no backend): the parameter arrays
 * the addon's convolution and pooling take, the right padding oneDNN needs to give tfjs' output sizes, the
 * cases oneDNN cannot express, and broadcasting as element strides.
 */
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {broadcastPlan, convParams, isNHWC, poolParams, sizeOf} from '../../src/engine/geometry';

// convParams layout: N,H,W,C, OC, KH,KW, OH,OW, SH,SW, DH,DW, PT,PL,PB,PR, G
const conv = (...args: Parameters<typeof convParams>) => {
  const p = convParams(...args);
  return p && Array.from(p);
};

test('convolution: a 3x3 "same" convolution with explicit padding 1 keeps the size', () => {
  assert.deepEqual(conv([2, 8, 8, 16], [3, 3, 16, 32], 1, 1, 1, undefined, 1), [2, 8, 8, 16, 32, 3, 3, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
});

test('convolution: tfjs "same" with stride 2 on an even size pads only bottom and right (TensorFlow convention)', () => {
  assert.deepEqual(conv([1, 8, 8, 3], [3, 3, 3, 8], 2, 1, 'same', undefined, 1), [1, 8, 8, 3, 8, 3, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1]);
});

test('convolution: "valid" on a non-square image', () => {
  assert.deepEqual(conv([1, 7, 10, 3], [3, 3, 3, 8], 2, 1, 'valid', undefined, 1), [1, 7, 10, 3, 8, 3, 3, 3, 4, 2, 2, 1, 1, 0, 0, 0, 0, 1]);
});

test('convolution: with ceil rounding, the right padding is derived from tfjs\' output size', () => {
  // tfjs: out = ceil((8 - 3) / 2 + 1) = 4 with no padding reported; oneDNN needs floor((8 + 0 + r - 3) / 2) + 1 = 4, so r = 1.
  assert.deepEqual(conv([1, 8, 8, 3], [3, 3, 3, 8], 2, 1, 0, 'ceil', 1), [1, 8, 8, 3, 8, 3, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1]);
});

test('convolution: groups must divide the channels as the filter says; otherwise not expressible', () => {
  assert.equal(conv([2, 6, 6, 16], [3, 3, 4, 16], 1, 1, 1, undefined, 4)?.[17], 4);
  assert.equal(conv([2, 6, 6, 16], [3, 3, 4, 16], 1, 1, 1, undefined, 3), undefined);
  assert.equal(conv([8, 8, 3], [3, 3, 3, 8], 1, 1, 1, undefined, 1), undefined, 'not a batch of images');
});

test('pooling: "same" 3x3/2 pads bottom and right; padding as large as the window is left to tfjs', () => {
  assert.deepEqual(Array.from(poolParams([1, 8, 8, 4], 3, 2, 'same', undefined)!), [1, 8, 8, 4, 3, 3, 4, 4, 2, 2, 0, 0, 1, 1]);
  assert.equal(poolParams([1, 8, 8, 4], 3, 1, 3, undefined), undefined);
  assert.equal(poolParams([8, 8, 4], 3, 1, 1, undefined), undefined);
});

test('broadcasting: neighbours that broadcast alike merge, size-1 dimensions drop, stride 0 broadcasts', () => {
  assert.deepEqual(broadcastPlan([2, 3, 4], [4]), {shape: [6, 4], sa: [4, 1], sb: [0, 1], outShape: [2, 3, 4]});
  assert.deepEqual(broadcastPlan([3, 1], [1, 5]), {shape: [3, 5], sa: [1, 0], sb: [0, 1], outShape: [3, 5]});
  assert.deepEqual(broadcastPlan([], []), {shape: [1], sa: [1], sb: [1], outShape: []});
  assert.throws(() => broadcastPlan([2, 3], [4]), /broadcast/i);
});

test('sizes and layouts', () => {
  assert.equal(sizeOf([]), 1);
  assert.equal(sizeOf([2, 3, 4]), 24);
  assert.equal(isNHWC(undefined), true);
  assert.equal(isNHWC('NHWC'), true);
  assert.equal(isNHWC('channelsLast'), true);
  assert.equal(isNHWC('NCHW'), false);
});
