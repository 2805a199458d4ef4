/**
 * The operations that models are built from, beyond what tfjs-core offers directly.
 *
 * Each op has a composite implementation in tfjs-core ops (autodiff gives its gradient; it runs on
 * every backend and is the reference the tests compare fast kernels against). An engine may install
 * a faster implementation with a registered gradient (see engine/index.ts); models never know which runs.
 *
 * Conventions: tensors are NHWC; filters are [kh, kw, inChannels / groups, outChannels];
 * padding is explicit and symmetric (PyTorch semantics: `pad` pixels on every side).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface BatchNormTrainResult {
  y: tf.Tensor4D;
  /** Per-channel batch mean. */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance (what normalises the batch). */
  variance: tf.Tensor1D;
}

/** SGD hyper-parameters for one update (PyTorch's semantics, see sgdUpdate). */
export interface SgdStep {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** Implementations an engine may replace. */
export interface OpImpls {
  conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, groups: number): tf.Tensor4D;
  batchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, relu: boolean, residual?: tf.Tensor4D): BatchNormTrainResult;
  addRelu(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D;
  movingAverage(running: tf.Tensor1D, batch: tf.Tensor1D, momentum: number, scale: number): tf.Tensor1D;
  sgdUpdate(w: tf.Tensor, velocity: tf.Tensor, grad: tf.Tensor, step: SgdStep): {w: tf.Tensor; velocity: tf.Tensor};
}

/** Grouped convolution as split -> convolve -> concatenate (tfjs has no grouped convolution). */
export function compositeConv2d(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, groups: number): tf.Tensor4D {
  if (groups === 1) return tf.conv2d(x, filter, stride, pad);
  const xs = tf.split(x, groups, 3) as tf.Tensor4D[];
  const fs = tf.split(filter, groups, 3) as tf.Tensor4D[];
  return tf.concat(xs.map((xi, g) => tf.conv2d(xi, fs[g], stride, pad)), 3) as tf.Tensor4D;
}

export function compositeBatchNormTrain(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, relu = false, residual?: tf.Tensor4D,
): BatchNormTrainResult {
  const {mean, variance} = tf.moments(x, [0, 1, 2]);
  let y = tf.batchNorm(x, mean, variance, beta, gamma, eps) as tf.Tensor4D;
  if (residual) y = tf.add(y, residual);
  return {y: relu ? tf.relu(y) : y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D};
}

export function compositeMovingAverage(running: tf.Tensor1D, batch: tf.Tensor1D, momentum: number, scale: number): tf.Tensor1D {
  return tf.add(tf.mul(running, 1 - momentum), tf.mul(batch, momentum * scale));
}

export function compositeAddRelu(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
  return tf.relu(tf.add(a, b)) as tf.Tensor4D;
}

/**
 * One SGD step with momentum and L2 weight decay as PyTorch's torch.optim.SGD does it:
 * g <- g + wd * w; v <- m * v + g; w <- w - lr * v (Nesterov: w - lr * (g + m * v)). With momentum 0 the
 * velocity is returned unchanged.
 */
export function compositeSgdUpdate(w: tf.Tensor, velocity: tf.Tensor, grad: tf.Tensor, step: SgdStep): {w: tf.Tensor; velocity: tf.Tensor} {
  const {lr, momentum, weightDecay, nesterov} = step;
  return tf.tidy(() => {
    const g = weightDecay > 0 ? tf.add(grad, tf.mul(w, weightDecay)) : grad;
    const v = momentum > 0 ? tf.add(tf.mul(velocity, momentum), g) : velocity;
    const update = momentum > 0 ? (nesterov ? tf.add(g, tf.mul(v, momentum)) : v) : g;
    return {w: tf.sub(w, tf.mul(update, lr)), velocity: momentum > 0 ? v : tf.clone(velocity)};
  });
}

const composite: OpImpls = {
  conv2d: compositeConv2d, batchNormTrain: compositeBatchNormTrain, addRelu: compositeAddRelu, movingAverage: compositeMovingAverage,
  sgdUpdate: compositeSgdUpdate,
};
let impls: OpImpls = composite;

/** Called by an engine at init; `undefined` restores the composite reference. */
export function setOpImpls(next: Partial<OpImpls> | undefined): void {
  impls = {...composite, ...(next ?? {})};
}

export function conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, groups = 1): tf.Tensor4D {
  return impls.conv2d(x, filter, stride, pad, groups);
}

/**
 * Batch norm in training mode: normalise with the batch statistics, which are returned for running averages.
 * With `residual` (a residual block's shortcut, of x's shape), y is batch norm of x + residual; with `relu`,
 * y is then max(0, y). An engine may do it all in one pass and never hold the tensors in between.
 */
export function batchNormTrain(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5, relu = false, residual?: tf.Tensor4D,
): BatchNormTrainResult {
  return impls.batchNormTrain(x, gamma, beta, eps, relu, residual);
}

/**
 * A batch norm's running statistic after one training step, as PyTorch keeps it:
 * (1 - momentum) * running + momentum * scale * batch (scale: n / (n - 1) for the unbiased variance, else 1).
 */
export function movingAverage(running: tf.Tensor1D, batch: tf.Tensor1D, momentum: number, scale = 1): tf.Tensor1D {
  return impls.movingAverage(running, batch, momentum, scale);
}

/** max(0, a + b) for tensors of one shape: a residual block's sum and the ReLU after it. */
export function addRelu(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
  return impls.addRelu(a, b);
}

/**
 * The new weights and momentum buffer after one SGD step (see compositeSgdUpdate); the caller assigns
 * them. The native engine does it in one pass instead of six element-wise kernels per variable.
 */
export function sgdUpdate(w: tf.Tensor, velocity: tf.Tensor, grad: tf.Tensor, step: SgdStep): {w: tf.Tensor; velocity: tf.Tensor} {
  return impls.sgdUpdate(w, velocity, grad, step);
}

/** Batch norm in inference mode, with running statistics. */
export function batchNormInfer(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, mean: tf.Tensor1D, variance: tf.Tensor1D, eps = 1e-5,
): tf.Tensor4D {
  return tf.batchNorm(x, mean, variance, beta, gamma, eps);
}
