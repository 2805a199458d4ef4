/**
 * Native kernels against the tfjs-cpu reference kernels, forward and gradients, on random shapes.
 *
 * Tolerance: |native - reference| <= ATOL + RTOL * max|reference| elementwise, with ATOL = 1e-4 and
 * RTOL = 1e-4. Both sides compute in float32 but sum in different orders (oneDNN blocks over
 * channels and the batch); observed differences are around 1e-6 relative, so the bound leaves room
 * without hiding a wrong index (which gives differences of the order of the values themselves).
 */
import {before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {addRelu, batchNormInfer, batchNormTrain, compositeBatchNormTrain, compositeConv2d, conv2d, movingAverage, sgdUpdate} from '../../src/engine/ops';
import {installNativeKernels, loadAddon, nativeStats, resetNativeStats, uninstallNativeKernels} from '../../src/engine/native';
import {convWithGrads, cpuBackend, nativeSkipReason, onBoth} from './backend';

const ATOL = 1e-4;
const RTOL = 1e-4;
const skip = nativeSkipReason();

function assertClose(got: tf.Tensor, ref: tf.Tensor, what: string): void {
  assert.deepEqual(got.shape, ref.shape, `${what}: shape`);
  const g = got.dataSync(), r = ref.dataSync();
  let scale = 0;
  for (let i = 0; i < r.length; i++) scale = Math.max(scale, Math.abs(r[i]));
  let worst = 0, at = -1;
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(g[i] - r[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  const bound = ATOL + RTOL * scale;
  assert.ok(worst <= bound, `${what}: max |diff| ${worst} at ${at} (native ${g[at]}, reference ${r[at]}) exceeds ${bound}`);
}

/** Deterministic pseudo-random tensor (tfjs' seeded normal generator). */
function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

interface ConvCase {
  n: number; h: number; w: number; c: number; oc: number; k: number; stride: number; pad: number; groups: number;
}

const CONV_CASES: ConvCase[] = [
  {n: 2, h: 8, w: 8, c: 16, oc: 16, k: 3, stride: 1, pad: 1, groups: 1},
  {n: 3, h: 9, w: 7, c: 3, oc: 8, k: 3, stride: 1, pad: 1, groups: 1},
  {n: 2, h: 9, w: 9, c: 8, oc: 16, k: 3, stride: 2, pad: 1, groups: 1},
  {n: 1, h: 7, w: 10, c: 5, oc: 6, k: 3, stride: 2, pad: 0, groups: 1},
  {n: 2, h: 8, w: 8, c: 16, oc: 32, k: 1, stride: 2, pad: 0, groups: 1},
  {n: 2, h: 6, w: 6, c: 12, oc: 4, k: 1, stride: 1, pad: 0, groups: 1},
  {n: 1, h: 15, w: 13, c: 3, oc: 8, k: 7, stride: 2, pad: 3, groups: 1},
  {n: 2, h: 5, w: 5, c: 4, oc: 4, k: 3, stride: 1, pad: 3, groups: 1},
  {n: 2, h: 8, w: 8, c: 8, oc: 8, k: 3, stride: 1, pad: 1, groups: 2},
  {n: 1, h: 9, w: 9, c: 16, oc: 16, k: 3, stride: 2, pad: 1, groups: 4},
  {n: 2, h: 6, w: 7, c: 32, oc: 64, k: 3, stride: 1, pad: 1, groups: 8},
  {n: 2, h: 8, w: 8, c: 16, oc: 8, k: 1, stride: 1, pad: 0, groups: 4},
  {n: 1, h: 11, w: 11, c: 8, oc: 16, k: 3, stride: 2, pad: 0, groups: 8},
  // Wide 3x3 stride-1 convolutions: oneDNN's Winograd algorithm (its own test below).
  {n: 2, h: 8, w: 8, c: 64, oc: 64, k: 3, stride: 1, pad: 1, groups: 1},
  {n: 1, h: 12, w: 9, c: 128, oc: 80, k: 3, stride: 1, pad: 1, groups: 1},
];

function label(c: ConvCase): string {
  return `${c.n}x${c.h}x${c.w}x${c.c} -> ${c.oc}, ${c.k}x${c.k}/${c.stride} pad ${c.pad} groups ${c.groups}`;
}

before(async () => {
  await cpuBackend();
});

describe('native convolution', {skip}, () => {
  for (const [i, c] of CONV_CASES.entries()) {
    test(`forward and gradients match the reference: ${label(c)}`, () => {
      const x = rand([c.n, c.h, c.w, c.c], 10 + i);
      const f = rand([c.k, c.k, c.c / c.groups, c.oc], 100 + i);
      const oh = Math.floor((c.h + 2 * c.pad - c.k) / c.stride) + 1, ow = Math.floor((c.w + 2 * c.pad - c.k) / c.stride) + 1;
      // A random weighting of the output makes every output element's gradient distinct.
      const r = rand([c.n, oh, ow, c.oc], 1000 + i);
      const run = (impl: typeof compositeConv2d) => convWithGrads(impl, x, f, r, c.stride, c.pad, c.groups);
      resetNativeStats();
      const {ref, got} = onBoth(() => ({composite: run(compositeConv2d), op: run(conv2d)}));
      // The reference is the split -> convolve -> concatenate composite on the JavaScript kernels.
      assertClose(got.op[0], ref.composite[0], 'y');
      assertClose(got.op[1], ref.composite[1], 'dx');
      assertClose(got.op[2], ref.composite[2], 'dfilter');
      const s = nativeStats();
      if (c.groups === 1) {
        assert.ok(s.native.Conv2D >= 1 && s.native.Conv2DBackpropInput >= 1 && s.native.Conv2DBackpropFilter >= 1, JSON.stringify(s));
      } else {
        assert.ok(s.native.GroupedConv2D >= 1 && s.native.GroupedConv2DBackpropInput >= 1 && s.native.GroupedConv2DBackpropFilter >= 1,
          JSON.stringify(s));
      }
      assert.deepEqual(Object.keys(s.fallback).filter((k) => k.includes('Conv')), [], 'no convolution fell back');
      tf.dispose([x, f, r, ...ref.composite, ...ref.op, ...got.composite, ...got.op]);
    });
  }

  test('tfjs padding modes, dilation and rectangular strides on the Conv2D kernel', () => {
    const x = rand([2, 10, 9, 6], 7);
    const f = rand([3, 2, 6, 5], 8);
    const settings: Array<[string, [number, number], 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]], [number, number]]> = [
      ['same, stride 2x1', [2, 1], 'same', [1, 1]],
      ['valid, stride 2', [2, 2], 'valid', [1, 1]],
      ['explicit asymmetric', [1, 2], [[0, 0], [2, 0], [1, 3], [0, 0]], [1, 1]],
      ['same, dilation 2', [1, 1], 'same', [2, 2]],
    ];
    for (const [what, strides, pad, dilations] of settings) {
      const {ref, got} = onBoth(() => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, strides, pad, 'NHWC', dilations));
      assertClose(got, ref, what);
      if (dilations[0] === 1) {
        const g = () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad))))([x, f]);
        const grads = onBoth(g);
        assertClose(grads.got[0], grads.ref[0], `${what}: dx`);
        assertClose(grads.got[1], grads.ref[1], `${what}: dfilter`);
      }
    }
  });

  test('wide 3x3 stride-1 convolutions take the Winograd algorithm; narrow, strided and small ones stay direct', () => {
    const addon = loadAddon();
    assert.ok(addon.ok);
    const r = installNativeKernels(2);
    assert.ok(r.ok);
    try {
      const winograd = () => addon.addon.info().winogradPrimitives;
      const convolve = (n: number, h: number, c: number, oc: number, stride: number) => tf.tidy(() => {
        const x = rand([n, h, h, c], 31), f = rand([3, 3, c, oc], 32);
        const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'))))([x, f]);
        dx.dataSync();
        df.dataSync();
      });
      const before = winograd();
      convolve(2, 10, 64, 96, 1);
      assert.equal(winograd() - before, 3, 'forward, backward-data and backward-weights of a 64 -> 96 channel 3x3/1 convolution');
      convolve(2, 10, 32, 32, 1); // 32 channels
      convolve(2, 10, 64, 64, 2); // stride 2
      convolve(2, 4, 64, 64, 1); // 4x4 outputs
      assert.equal(winograd() - before, 3, 'no other convolution took Winograd');
    } finally {
      uninstallNativeKernels();
    }
  });

  test('FusedConv2D with bias and activations', () => {
    const x = rand([2, 7, 7, 4], 21);
    const f = rand([3, 3, 4, 6], 22);
    const b = rand([6], 23);
    for (const activation of ['linear', 'relu', 'relu6', 'leakyrelu', 'elu', 'sigmoid'] as const) {
      resetNativeStats();
      const {ref, got} = onBoth(() => tf.fused.conv2d({x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation, leakyreluAlpha: 0.1}));
      assertClose(got, ref, activation);
      assert.equal(nativeStats().native.FusedConv2D, 1, activation);
    }
  });
});

describe('native batch norm (training)', {skip}, () => {
  const shapes = [[4, 6, 6, 16], [1, 5, 7, 3], [8, 4, 4, 64], [3, 1, 1, 10]];
  for (const [i, shape] of shapes.entries()) {
    test(`forward, statistics and gradients match the composite: ${shape.join('x')}`, () => {
      const c = shape[3];
      // Offset and scaled input so the normalisation is not the identity.
      const x = tf.tidy(() => tf.add(tf.mul(rand(shape, 40 + i), 3), 1.5));
      const gamma = tf.tidy(() => tf.add(rand([c], 50 + i), 1));
      const beta = rand([c], 60 + i);
      const r = rand(shape, 70 + i);
      const run = () => tf.tidy(() => {
        const {y, mean, variance} = batchNormTrain(x as tf.Tensor4D, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5);
        const gr = tf.grads((a: tf.Tensor, g: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, bb as tf.Tensor1D, 1e-5).y, r)))([x, gamma, beta]);
        return [y, mean, variance, ...gr].map((t) => tf.keep(t));
      });
      resetNativeStats();
      const {ref, got} = onBoth(run);
      const names = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
      names.forEach((n, j) => assertClose(got[j], ref[j], n));
      const s = nativeStats();
      assert.ok(s.native.BatchNormTraining >= 1 && s.native.BatchNormTrainingGrad >= 1, JSON.stringify(s));
      tf.dispose([x, gamma, beta, r, ...ref, ...got]);
    });
  }

  for (const withResidual of [false, true]) {
    const what = withResidual ? 'batch norm + residual + ReLU in one kernel' : 'batch norm with a fused ReLU';
    test(`${what}: the composite forward and backward, and bit for bit the unfused native kernels`, () => {
      const shape = [4, 6, 6, 16];
      const x = tf.tidy(() => tf.add(tf.mul(rand(shape, 140), 3), 1.5));
      const gamma = tf.tidy(() => tf.add(rand([16], 141), 1));
      // Betas around 0 put about half of the outputs below zero, so the ReLU's mask matters.
      const beta = rand([16], 142);
      const res = rand(shape, 144);
      const r = rand(shape, 143);
      const run = (fused: boolean) => () => tf.tidy(() => {
        const f = (a: tf.Tensor, g: tf.Tensor, bb: tf.Tensor, s: tf.Tensor) => {
          const residual = withResidual ? (s as tf.Tensor4D) : undefined;
          if (fused) return batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, bb as tf.Tensor1D, 1e-5, true, residual).y;
          const y = batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, bb as tf.Tensor1D, 1e-5).y;
          return residual ? addRelu(y, residual) : tf.relu(y);
        };
        const y = f(x, gamma, beta, res);
        const gr = tf.grads((a: tf.Tensor, g: tf.Tensor, bb: tf.Tensor, s?: tf.Tensor) => tf.sum(tf.mul(f(a, g, bb, s ?? res), r)))(
          withResidual ? [x, gamma, beta, res] : [x, gamma, beta]);
        return [y, ...gr].map((t) => tf.keep(t));
      });
      resetNativeStats();
      const {ref, got} = onBoth(run(true));
      const names = ['y', 'dx', 'dgamma', 'dbeta', ...(withResidual ? ['dresidual'] : [])];
      names.forEach((n, j) => assertClose(got[j], ref[j], n));
      const zeros = Array.from(got[0].dataSync()).filter((v) => v === 0).length;
      assert.ok(zeros > got[0].size / 4 && zeros < (got[0].size * 3) / 4, `${zeros} of ${got[0].size} outputs clipped`);
      const s = nativeStats();
      assert.equal(s.native.Relu, undefined, 'the ReLU ran inside the batch norm');
      assert.equal(s.native.AddRelu, undefined, 'the residual sum ran inside the batch norm');
      // The ReLU's gradient runs inside the batch norm's, which also writes it out as the residual's.
      assert.equal(s.native.ReluGradFromOutput, undefined);
      const {got: unfused} = onBoth(run(false));
      names.forEach((n, j) => assert.deepEqual(Array.from(got[j].dataSync()), Array.from(unfused[j].dataSync()), `${n}: fused and unfused differ`));
      tf.dispose([x, gamma, beta, res, r, ...ref, ...got, ...unfused]);
    });
  }

  test('large enough to split between threads: matches the composite, is the same on 1 and 2 threads, and passes NaN on', () => {
    // 16x9x9x17 = 22,032 elements: above the size at which the kernels split rows between threads, with a
    // channel count that leaves a remainder after every vector width (4, 8 and 16 floats).
    const shape = [16, 9, 9, 17];
    const x = tf.tidy(() => tf.add(tf.mul(rand(shape, 160), 2), 0.5));
    const gamma = tf.tidy(() => tf.add(rand([17], 161), 1)), beta = rand([17], 162);
    const res = rand(shape, 163), r = rand(shape, 164);
    const run = () => tf.tidy(() => {
      const f = (a: tf.Tensor, g: tf.Tensor, bb: tf.Tensor, s: tf.Tensor) =>
        batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, bb as tf.Tensor1D, 1e-5, true, s as tf.Tensor4D).y;
      const plain = batchNormTrain(x as tf.Tensor4D, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5);
      const gr = tf.grads((a: tf.Tensor, g: tf.Tensor, bb: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(f(a, g, bb, s), r)))([x, gamma, beta, res]);
      return [f(x, gamma, beta, res), plain.y, plain.mean, plain.variance, ...gr].map((t) => tf.keep(t));
    });
    const names = ['y', 'y without ReLU', 'mean', 'variance', 'dx', 'dgamma', 'dbeta', 'dresidual'];
    const {ref, got} = onBoth(run);
    names.forEach((n, j) => assertClose(got[j], ref[j], n));
    const {got: one} = onBoth(run, 1);
    names.forEach((n, j) => assert.deepEqual(Array.from(got[j].dataSync()), Array.from(one[j].dataSync()), `${n}: 1 and 2 threads differ`));

    // A NaN in the input makes its channel's statistics NaN, and with them every output of that channel.
    const bad = tf.tidy(() => tf.where(tf.equal(tf.reshape(tf.range(0, 22032), shape), 5 * 17 + 3), tf.fill(shape, NaN), x));
    const y = tf.tidy(() => batchNormTrain(bad as tf.Tensor4D, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5, true).y);
    assert.ok(installNativeKernels(2).ok);
    let yNative: tf.Tensor;
    try {
      yNative = batchNormTrain(bad as tf.Tensor4D, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5, true).y;
    } finally {
      uninstallNativeKernels();
    }
    const v = yNative.dataSync(), vr = y.dataSync();
    for (let i = 0; i < v.length; i++) {
      assert.equal(Number.isNaN(v[i]), i % 17 === 3, `element ${i}: ${v[i]}`);
      assert.equal(Number.isNaN(v[i]), Number.isNaN(vr[i]), `element ${i}: native ${v[i]}, reference ${vr[i]}`);
    }
    tf.dispose([x, gamma, beta, res, r, bad, y, yNative, ...ref, ...got, ...one]);
  });

  test('running statistics: the moving average equals the composite bit for bit, and runs no kernel', () => {
    const running = rand([64], 150) as tf.Tensor1D, batch = tf.tidy(() => tf.abs(rand([64], 151))) as tf.Tensor1D;
    const f = () => [movingAverage(running, batch, 0.1), movingAverage(running, batch, 0.1, 128 / 127), movingAverage(running, batch, 0.37, 3)];
    const {ref} = onBoth(f);
    assert.ok(installNativeKernels(2).ok);
    try {
      const before = nativeStats();
      const got = f();
      assert.deepEqual(nativeStats(), before);
      got.forEach((g, j) => assert.deepEqual(Array.from(g.dataSync()), Array.from(ref[j].dataSync()), `case ${j}`));
    } finally {
      uninstallNativeKernels();
    }
  });

  test('channels with a large mean and a tiny spread keep their variance (no E[x^2] - E[x]^2 cancellation)', () => {
    // Means up to +-30, spread 1e-2. float32 spacing at 30 is 1.9e-6, so the data themselves carry a
    // relative rounding of ~2e-4 of the spread; y and dx are compared to 1e-3 of their range and the
    // variance to 1% of itself. E[x^2] - E[x]^2 in float32 would miss the variance entirely (x^2 ~ 900 carries
    // an absolute error of ~3e-5 per element against a variance of 1e-4), and scaling x before subtracting
    // the mean would lose y in the same way.
    const x = tf.tidy(() => tf.add(tf.mul(rand([4, 5, 5, 8], 90), 1e-2), tf.linspace(-30, 30, 8)));
    const g = tf.ones([8]), b = tf.zeros([8]);
    const r = rand([4, 5, 5, 8], 91);
    const {ref, got} = onBoth(() => {
      const o = batchNormTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(t as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y, r)))(x);
      return [o.y, o.variance, dx];
    });
    const gv = got[1].dataSync(), rv = ref[1].dataSync();
    for (let i = 0; i < rv.length; i++) assert.ok(Math.abs(gv[i] - rv[i]) <= 1e-2 * rv[i], `variance ${i}: ${gv[i]} vs ${rv[i]}`);
    for (const [j, what] of [[0, 'y'], [2, 'dx']] as const) {
      const gd = got[j].dataSync(), rd = ref[j].dataSync();
      const range = Math.max(...Array.from(rd, Math.abs));
      const worst = Math.max(...Array.from(rd, (v, i) => Math.abs(v - gd[i])));
      assert.ok(worst <= 1e-3 * range, `${what}: max |diff| ${worst} against a range of ${range}`);
    }
  });

  test('inference batch norm (FusedBatchNorm) with per-channel statistics; other shapes fall back', () => {
    const x = rand([3, 5, 4, 6], 95);
    const mean = rand([6], 96), variance = tf.tidy(() => tf.add(tf.abs(rand([6], 97)), 0.1));
    const offset = rand([6], 98), scale = rand([6], 99);
    resetNativeStats();
    const {ref, got} = onBoth(() => [
      batchNormInfer(x as tf.Tensor4D, scale as tf.Tensor1D, offset as tf.Tensor1D, mean as tf.Tensor1D, variance as tf.Tensor1D, 1e-5),
      tf.batchNorm(x, mean, variance),
      tf.batchNorm(x, tf.reshape(mean, [1, 1, 1, 6]), tf.reshape(variance, [1, 1, 1, 6])),
    ]);
    for (let j = 0; j < ref.length; j++) assertClose(got[j], ref[j], `case ${j}`);
    const s = nativeStats();
    assert.equal(s.native.FusedBatchNorm, 3);
  });

  test('the composite reference is what ops.ts falls back to', () => {
    uninstallNativeKernels();
    const x = rand([2, 3, 3, 4], 1) as tf.Tensor4D;
    const g = tf.ones([4]) as tf.Tensor1D, b = tf.zeros([4]) as tf.Tensor1D;
    const a = batchNormTrain(x, g, b), c = compositeBatchNormTrain(x, g, b, 1e-5);
    assertClose(a.y, c.y, 'y');
  });

  test('gradients flow through the returned statistics too', () => {
    const x = tf.tidy(() => tf.add(rand([2, 3, 3, 4], 81), 2));
    const g = tf.tidy(() => tf.add(rand([4], 82), 1)), b = rand([4], 83);
    const f = () => tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const o = batchNormTrain(a as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5);
      return tf.addN([tf.sum(tf.square(o.y)), tf.sum(tf.mul(o.mean, 3)), tf.sum(tf.sqrt(o.variance))]);
    })([x, g, b]);
    const {ref, got} = onBoth(f);
    ['dx', 'dgamma', 'dbeta'].forEach((n, j) => assertClose(got[j], ref[j], n));
  });
});

describe('native matrix products', {skip}, () => {
  test('BatchMatMul with every transpose, with batched and shared operands, and its gradients, match the reference', () => {
    const cases: Array<[number[], number[]]> = [
      [[32, 64], [64, 10]], // a classifier: pooled features x weights
      [[3, 5, 9], [3, 9, 7]],
      [[2, 3, 4, 6], [6, 5]], // b shared by every matrix of a
      [[6, 5], [4, 5, 2]], // a shared
      [[1, 1], [1, 1]],
      [[7, 0], [0, 3]], // empty inner dimension: zeros
    ];
    let i = 0;
    for (const [sa, sb] of cases) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const t = (s: number[], tr: boolean) => (tr ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
          const a = rand(t(sa, ta), 200 + i), b = rand(t(sb, tb), 300 + i++);
          resetNativeStats();
          const {ref, got} = onBoth(() => tf.tidy(() => {
            const y = tf.matMul(a, b, ta, tb);
            const r = tf.tidy(() => tf.add(tf.mul(tf.onesLike(y), 0.5), tf.reshape(tf.range(0, y.size), y.shape)));
            // tfjs' gradient of BatchMatMul does not sum over a shared operand's batch: gradients where both are batched alike.
            const grads = sa.length === sb.length ? tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), r)))([a, b]) : [];
            return [y, ...grads].map((x) => tf.keep(x));
          }));
          assert.equal(got.length, sa.length === sb.length ? 3 : 1);
          ['y', 'da', 'db'].slice(0, got.length).forEach((n, j) => assertClose(got[j], ref[j], `${sa} x ${sb} (${ta}, ${tb}): ${n}`));
          assert.ok(nativeStats().native.BatchMatMul >= 1, JSON.stringify(nativeStats()));
          tf.dispose([a, b, ...ref, ...got]);
        }
      }
    }
  });

  test('batches that broadcast against each other fall back to the reference kernel', () => {
    const a = rand([2, 1, 3, 4], 400), b = rand([1, 5, 4, 2], 401);
    resetNativeStats();
    const {ref, got} = onBoth(() => tf.matMul(a, b));
    assert.deepEqual(got.shape, [2, 5, 3, 2]);
    assertClose(got, ref, 'y');
    assert.equal(nativeStats().fallback.BatchMatMul, 1);
    assert.equal(nativeStats().native.BatchMatMul, undefined);
    tf.dispose([a, b, ref, got]);
  });
});

describe('native element-wise kernels', {skip}, () => {
  test('ReLU forward and gradient (NaN propagates as in tfjs)', () => {
    const x = tf.tidy(() => tf.concat([rand([5000], 91), tf.tensor1d([0, -0, NaN, 1e-30, -1e-30])]));
    const f = () => {
      const y = tf.relu(x);
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), tf.range(0, a.size, 1, 'float32'))))(x);
      return [y, dx];
    };
    const {ref, got} = onBoth(f);
    // Both are exact (a comparison and a copy or a multiplication by 0/1), so they must agree bit for bit.
    assert.deepEqual(Array.from(got[0].dataSync()), Array.from(ref[0].dataSync()));
    assert.deepEqual(Array.from(got[1].dataSync()), Array.from(ref[1].dataSync()));
    assert.ok(Number.isNaN(got[0].dataSync()[5002]) && Number.isNaN(got[1].dataSync()[5002]));
  });

  test('addRelu: relu(a + b) forward and backward, exact, one native pass each way; NaN propagates', () => {
    // The last eight elements: NaN in a, NaN in b, and sums below, at and above zero.
    const withTail = (seed: number, tail: number[]) => {
      const v = rand([3, 20, 20, 8], seed).dataSync() as Float32Array;
      v.set(tail, v.length - tail.length);
      return tf.tensor4d(v, [3, 20, 20, 8]);
    };
    const a = withTail(11, [NaN, 1, -1, 0, 2, -2, 0.5, -0.5]), b = withTail(12, [0, NaN, 0.5, 0, -2, 2, 0, 0]);
    const w = withTail(13, [1, 1, 1, 1, 1, 1, 1, 1]);
    const f = (fused: boolean) => () => {
      const op = (p: tf.Tensor, q: tf.Tensor) => (fused ? addRelu(p as tf.Tensor4D, q as tf.Tensor4D) : tf.relu(tf.add(p, q)));
      return [op(a, b), ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(op(p, q), w)))([a, b])];
    };
    resetNativeStats();
    const {ref, got} = onBoth(f(true));
    const s = nativeStats();
    assert.equal(s.native.AddRelu, 2, JSON.stringify(s));
    assert.equal(s.native.ReluGradFromOutput, 1, 'one ReLU gradient serves both inputs');
    const {got: unfused} = onBoth(f(false));
    // Against the native unfused kernels bit for bit; against tfjs' reference by value (its gradient
    // multiplies by 0 where ours selects 0, so a negative dy there gives -0 instead of +0).
    ['y', 'da', 'db'].forEach((n, j) => {
      assert.deepEqual(Array.from(got[j].dataSync()), Array.from(unfused[j].dataSync()), n);
      got[j].dataSync().forEach((v, i) => assert.ok(v === ref[j].dataSync()[i] || (Number.isNaN(v) && Number.isNaN(ref[j].dataSync()[i])), `${n}[${i}]`));
    });
    const last = got[0].size - 8;
    assert.ok(Number.isNaN(got[0].dataSync()[last]) && Number.isNaN(got[0].dataSync()[last + 1]));
    assert.ok(Number.isNaN(got[1].dataSync()[last]) && Number.isNaN(got[2].dataSync()[last + 1]));
  });

  test('Add (same shape and broadcasting) and AddN; int32 falls back to the reference', () => {
    const a = rand([3, 40, 40, 8], 1), b = rand([3, 40, 40, 8], 2), c = rand([8], 3);
    resetNativeStats();
    const {ref, got} = onBoth(() => [tf.add(a, b), tf.addN([a, b, a]), tf.add(a, c), tf.add(tf.scalar(2, 'int32'), tf.scalar(3, 'int32'))]);
    for (let j = 0; j < ref.length; j++) assertClose(got[j], ref[j], `sum ${j}`);
    const s = nativeStats();
    assert.equal(s.native.Add, 2);
    assert.equal(s.native.AddN, 1);
    assert.equal(s.fallback.Add, 1);
  });

  test('install is idempotent and uninstall restores the reference kernels', () => {
    const original = tf.getKernel('Conv2D', 'cpu')!.kernelFunc;
    assert.ok(installNativeKernels(1).ok);
    assert.ok(installNativeKernels(2).ok);
    assert.notEqual(tf.getKernel('Conv2D', 'cpu')!.kernelFunc, original);
    uninstallNativeKernels();
    assert.equal(tf.getKernel('Conv2D', 'cpu')!.kernelFunc, original);
    assert.equal(tf.getKernel('GroupedConv2D', 'cpu'), undefined);
  });
});

describe('native data-movement, broadcasting and reduction kernels', {skip}, () => {
  test('broadcasting Add, Sub, Multiply, RealDiv', () => {
    const pairs: Array<[number[], number[]]> = [
      [[3, 4, 5], [3, 4, 5]], [[3, 4, 5], [5]], [[3, 1, 5], [1, 4, 1]], [[2, 3], []], [[], [2, 3]],
      [[16, 8, 8, 64], [16, 1, 1, 64]], [[64], [16, 8, 8, 64]], [[4], [3, 1]], [[1, 1], [1]], [[2, 1, 3, 1, 2], [1, 4, 1, 5, 2]],
    ];
    for (const [i, [sa, sb]] of pairs.entries()) {
      const a = rand(sa, 300 + i);
      // Divisors kept away from zero so the quotient is well conditioned.
      const b = tf.tidy(() => tf.add(tf.abs(rand(sb, 400 + i)), 0.5));
      resetNativeStats();
      const {ref, got} = onBoth(() => [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b)]);
      ['add', 'sub', 'mul', 'div'].forEach((n, j) => assertClose(got[j], ref[j], `${n} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`));
      const s = nativeStats();
      assert.deepEqual([s.native.Add, s.native.Sub, s.native.Multiply, s.native.RealDiv], [1, 1, 1, 1], JSON.stringify(s));
    }
  });

  test('Slice across any axis, and PadV2 with zero and non-zero constants, with gradients', () => {
    const x = rand([3, 6, 5, 8], 500);
    const f = () => [
      tf.slice(x, [0, 1, 2, 3], [3, 4, 2, 4]),
      tf.slice(x, [1, 0, 0, 0], [2, 6, 5, 8]), // contiguous: tfjs' zero-copy view
      tf.pad(x, [[0, 0], [1, 2], [0, 1], [4, 4]]),
      tf.pad(x, [[1, 0], [0, 0], [0, 0], [0, 3]], -2.5),
      ...tf.grads((t: tf.Tensor) => tf.sum(tf.mul(tf.pad(tf.slice(t, [0, 1, 1, 2], [3, 4, 3, 5]), [[0, 0], [0, 0], [0, 0], [3, 5]]),
        tf.reshape(tf.range(0, 3 * 4 * 3 * 13, 1, 'float32'), [3, 4, 3, 13]))))([x]),
    ];
    resetNativeStats();
    const {ref, got} = onBoth(f);
    for (let j = 0; j < ref.length; j++) assertClose(got[j], ref[j], `case ${j}`);
    const s = nativeStats();
    assert.ok(s.native.Slice >= 2 && s.native.PadV2 >= 3, JSON.stringify(s));
  });

  test('Sum and Mean over contiguous axes (others fall back), keepDims', () => {
    const x = rand([4, 5, 6, 7], 600);
    const f = () => [
      tf.sum(x, [1, 2]), tf.mean(x, [1, 2]), tf.sum(x, [0, 1, 2]), tf.mean(x, 3, true), tf.sum(x), tf.mean(x, [0]),
      tf.sum(x, [0, 2]), tf.sum(tf.scalar(3)),
    ];
    resetNativeStats();
    const {ref, got} = onBoth(f);
    for (let j = 0; j < ref.length; j++) assertClose(got[j], ref[j], `case ${j}`);
    const s = nativeStats();
    assert.ok(s.native.Sum >= 3 && s.native.Mean >= 3 && s.fallback.Sum >= 1, JSON.stringify(s));
  });

  test('AvgPool and MaxPool forward and gradients (ties after ReLU included)', () => {
    const x = tf.tidy(() => tf.relu(rand([3, 11, 10, 6], 700)));
    const cases: Array<[string, (t: tf.Tensor4D) => tf.Tensor]> = [
      ['avg 1x1/2 valid', (t) => tf.avgPool(t, 1, 2, 'valid')],
      ['avg 2x2/2 valid', (t) => tf.avgPool(t, 2, 2, 'valid')],
      ['avg 3x3/2 same', (t) => tf.avgPool(t, 3, 2, 'same')],
      ['max 3x3/2 pad 1', (t) => tf.maxPool(t, 3, 2, 1)],
      ['max 2x2/2 valid', (t) => tf.maxPool(t, 2, 2, 'valid')],
      ['max 3x3/1 same', (t) => tf.maxPool(t, 3, 1, 'same')],
    ];
    for (const [what, op] of cases) {
      resetNativeStats();
      const {ref, got} = onBoth(() => {
        const y = op(x as tf.Tensor4D);
        const w = tf.reshape(tf.range(0, y.size, 1, 'float32'), y.shape);
        return [y, tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t as tf.Tensor4D), w)))(x)];
      });
      assertClose(got[0], ref[0], `${what}: y`);
      assertClose(got[1], ref[1], `${what}: dx`);
      const s = nativeStats();
      const fwd = what.startsWith('max') ? 'MaxPool' : 'AvgPool';
      assert.ok(s.native[fwd] >= 1, `${what}: ${JSON.stringify(s)}`);
      if (!what.includes('same')) assert.ok(s.native[`${fwd}Grad`] >= 1, `${what}: ${JSON.stringify(s)}`);
    }
  });
});

describe('fused SGD update', () => {
  test('the composite follows PyTorch: g += wd w; v = m v + g; w -= lr v (Nesterov: lr (g + m v))', () => {
    const w = tf.tensor1d([1, -2, 0.5]), v = tf.tensor1d([0.1, 0.2, -0.3]), g = tf.tensor1d([0.3, -0.1, 0.05]);
    const [lr, m, wd] = [0.1, 0.9, 0.01];
    for (const nesterov of [false, true]) {
      uninstallNativeKernels();
      const out = sgdUpdate(w, v, g, {lr, momentum: m, weightDecay: wd, nesterov});
      const wv = w.dataSync(), vv = v.dataSync(), gv = g.dataSync();
      for (let i = 0; i < 3; i++) {
        const gi = gv[i] + wd * wv[i], vi = m * vv[i] + gi;
        assert.ok(Math.abs(out.velocity.dataSync()[i] - vi) < 1e-6);
        assert.ok(Math.abs(out.w.dataSync()[i] - (wv[i] - lr * (nesterov ? gi + m * vi : vi))) < 1e-6);
      }
    }
  });

  test('native and composite agree, with and without Nesterov and weight decay', {skip}, () => {
    const w = rand([3, 3, 16, 32], 900), v = rand([3, 3, 16, 32], 901), g = rand([3, 3, 16, 32], 902);
    for (const step of [{lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: false}, {lr: 0.05, momentum: 0.9, weightDecay: 0, nesterov: true},
      {lr: 0.1, momentum: 0, weightDecay: 5e-4, nesterov: false}]) {
      resetNativeStats();
      const {ref, got} = onBoth(() => {
        const o = sgdUpdate(w, v, g, step);
        return [o.w, o.velocity];
      });
      assertClose(got[0], ref[0], `w ${JSON.stringify(step)}`);
      assertClose(got[1], ref[1], `velocity ${JSON.stringify(step)}`);
      assert.equal(nativeStats().native.SgdMomentumUpdate ?? 0, step.momentum > 0 ? 1 : 0);
    }
  });
});

describe('native memory policies', {skip}, () => {
  test('recycled output buffers never overwrite data that JavaScript or views can still see', () => {
    assert.ok(installNativeKernels(2).ok);
    try {
      const x = rand([4, 16, 16, 8], 800);
      // Read out, then disposed: the array handed out must keep its values.
      const y = tf.relu(x);
      const seen = y.dataSync();
      const copy = Float32Array.from(seen);
      y.dispose();
      // Same-sized outputs with other values, kept alive, take whatever the pool holds.
      const taken = [tf.mul(x, 3), tf.mul(x, 5)];
      // A contiguous slice is a view of its input's buffer in tfjs-cpu; so are unstack's parts.
      const z = tf.relu(x);
      const view = tf.slice(z, [1, 0, 0, 0], [2, 16, 16, 8]);
      const viewCopy = Float32Array.from(view.dataSync());
      const w = tf.relu(x);
      const parts = tf.unstack(w);
      const partCopy = Float32Array.from(parts[3].dataSync());
      z.dispose();
      w.dispose();
      // Many same-sized outputs, which would reuse any buffer wrongly returned to the pool.
      for (let i = 0; i < 8; i++) tf.dispose(tf.mul(x, i + 2));
      const keep = [tf.mul(x, -1), tf.mul(x, -2), tf.mul(x, -3)];
      assert.deepEqual(seen, copy);
      assert.deepEqual(view.dataSync(), viewCopy);
      assert.deepEqual(parts[3].dataSync(), partCopy);
      tf.dispose([x, view, ...parts, ...keep, ...taken]);
    } finally {
      uninstallNativeKernels();
    }
  });

  test('early release of gradients leaves a caller-supplied dy intact and frees memory during backward', () => {
    assert.ok(installNativeKernels(2).ok);
    try {
      const x = rand([2, 8, 8, 4], 810), f = rand([3, 3, 4, 4], 811);
      const dy = rand([2, 8, 8, 4], 812);
      const before = Float32Array.from(dy.dataSync());
      const [dx] = tf.grads((a: tf.Tensor) => tf.relu(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 1)))([x], dy);
      assert.equal(dy.isDisposed, false);
      assert.deepEqual(dy.dataSync(), before);
      // Same result as the reference kernels with the same dy.
      uninstallNativeKernels();
      const [ref] = tf.grads((a: tf.Tensor) => tf.relu(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 1)))([x], dy);
      assertClose(dx, ref, 'dx');
      // The early disposals leave the tensor count exactly as the reference kernels do (tfjs itself keeps one
      // tensor per tf.grads call either way).
      const leftBehind = () => {
        const n0 = tf.memory().numTensors;
        tf.tidy(() => tf.grads((a: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 1))))([x]));
        return tf.memory().numTensors - n0;
      };
      const refLeft = leftBehind();
      assert.ok(installNativeKernels(2).ok);
      assert.equal(leftBehind(), refLeft);
      tf.dispose([x, f, dy, dx, ref]);
    } finally {
      uninstallNativeKernels();
    }
  });
});
