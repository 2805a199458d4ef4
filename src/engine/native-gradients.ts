/**
 * Gradients of the heavy nodes, registered with the native kernels: the same gradients as tfjs' (or, for the
 * added kernels, their analytic gradients), computed by native backward kernels, and releasing the node's
 * tensors as soon as they are no longer needed.
 */
import * as tf from '@tensorflow/tfjs-core';
import {ADD_RELU, BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, GROUPED_CONV2D, GROUPED_CONV2D_BACKPROP_FILTER, GROUPED_CONV2D_BACKPROP_INPUT, RELU_GRAD} from './native-kernels';

/**
 * tfjs keeps every tape node's saved tensors and every output gradient until the whole backward pass
 * ends, so a deep net holds all its activation gradients at once. PyTorch frees each as soon as its
 * node is done; these gradients do the same for the heavy nodes: once the node's last input gradient
 * has been computed, its output gradient and its saved tensors are disposed.
 *
 * Only in a first-order backward pass (tfjs keeps the tape for higher-order gradients), and only an
 * output gradient created during this backward pass (never a `dy` the caller handed to tf.grads).
 */
function releaser(dys: Array<tf.Tensor | null>, saved: tf.Tensor[]): () => void {
  const state = (tf.engine() as unknown as {state: {gradientDepth: number; activeScope?: {track?: tf.Tensor[]}}}).state;
  if (state.gradientDepth !== 0) return () => undefined;
  const track = state.activeScope?.track;
  const first = track && track.length > 0 ? track[0].id : Infinity;
  const own = dys.filter((d): d is tf.Tensor => d !== null && d.id >= first);
  return () => {
    for (const t of own) t.dispose();
    for (const t of saved) t.dispose();
  };
}

/** Gradient closures computed lazily, releasing the node's tensors after the last input's closure. */
function lazyGrads(inputs: string[], compute: (name: string) => tf.Tensor, release: () => void): Record<string, () => tf.Tensor> {
  const out: Record<string, () => tf.Tensor> = {};
  inputs.forEach((name, i) => {
    out[name] = () => {
      const g = compute(name);
      // tfjs calls the closures in input order, skipping inputs that need no gradient; the last input
      // is the layer's own weight or, for a residual sum, the shortcut, which training always
      // differentiates (were it skipped, the tensors would live until the step's scope ends).
      if (i === inputs.length - 1) release();
      return g;
    };
  });
  return out;
}

export const gradients: tf.GradConfig[] = [
  {
    // tfjs' Conv2D gradient, computed the same way (Conv2DBackpropInput / Conv2DBackpropFilter), releasing early.
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved;
      const d = dy as tf.Tensor;
      const {strides, pad, dataFormat, dimRoundingMode, dilations} = attrs as Record<string, unknown>;
      if (!tf.backend_util.tupleValuesAreOne(dilations as number)) {
        throw new Error(`Error in gradient of conv2D: dilation rates greater than 1 are not yet supported in gradients. Got dilations '${dilations}'`);
      }
      const common = {strides, pad, dataFormat, dimRoundingMode} as tf.NamedAttrMap;
      return lazyGrads(['x', 'filter'], (name) => name === 'x'
        ? tf.engine().runKernel('Conv2DBackpropInput', {dy: d, filter}, {...common, inputShape: x.shape}) as tf.Tensor
        : tf.engine().runKernel('Conv2DBackpropFilter', {x, dy: d}, {...common, filterShape: filter.shape}) as tf.Tensor,
      releaser([d], saved));
    },
  },
  {
    kernelName: GROUPED_CONV2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved;
      const d = dy as tf.Tensor;
      return lazyGrads(['x', 'filter'], (name) => name === 'x'
        ? tf.engine().runKernel(GROUPED_CONV2D_BACKPROP_INPUT, {dy: d, filter}, {...attrs, inputShape: x.shape}) as tf.Tensor
        : tf.engine().runKernel(GROUPED_CONV2D_BACKPROP_FILTER, {x, dy: d}, {...attrs, filterShape: filter.shape}) as tf.Tensor,
      releaser([d], saved));
    },
  },
  {
    kernelName: BATCH_NORM_TRAINING,
    inputsToSave: ['x', 'gamma'],
    // y is needed only with a fused ReLU (its gradient passes where y > 0); saved tensors share their data
    // with the originals, so keeping y otherwise costs no memory.
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, gamma, y, mean, variance] = saved;
      const [dy0, dmean, dvar] = dys as Array<tf.Tensor | null>;
      const dy = dy0 ?? tf.zerosLike(x);
      const relu = attrs.relu === true;
      const release = releaser([dy0], saved);
      // A fused residual's gradient (attribute `residual`: the op had one) is the output's, through the ReLU when
      // there is one: the kernel then writes it as a fourth output, from the pass that computes dx.
      const [dx, dgamma, dbeta, gated] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD,
        {dy, x, gamma, mean, variance, ...(relu ? {y} : {})}, attrs) as tf.Tensor[];
      const dresidual = attrs.residual !== true ? undefined : relu ? gated : dy.clone();
      // The statistics outputs are normally consumed only by the running averages (outside the loss);
      // when a loss does use them, their gradients flow to x as well: d mean/dx = 1/M, d var/dx = 2(x - mean)/M.
      // tfjs hands zeros (not null) for outputs outside the loss's graph; skip those cheaply (C values).
      const nonZero = (t: tf.Tensor | null): t is tf.Tensor => t !== null && (t.dataSync() as Float32Array).some((v) => v !== 0);
      let dxAll = dx;
      if (nonZero(dmean) || nonZero(dvar)) {
        const m = x.size / x.shape[x.rank - 1];
        if (nonZero(dmean)) dxAll = tf.add(dxAll, tf.div(dmean, m));
        if (nonZero(dvar)) dxAll = tf.add(dxAll, tf.mul(tf.mul(dvar, 2 / m), tf.sub(x, mean)));
      }
      release();
      return {x: () => dxAll, gamma: () => dgamma, beta: () => dbeta, ...(dresidual ? {residual: () => dresidual} : {})};
    },
  },
  {
    // max(0, a + b): the ReLU's gradient, once, for both inputs (a copy for the second: tfjs may dispose
    // an input's gradient when it accumulates it, and the two must not share one tensor object).
    kernelName: ADD_RELU,
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [y] = saved;
      const d = dy as tf.Tensor;
      let g: tf.Tensor | undefined;
      return lazyGrads(['a', 'b'], () => {
        if (g) return g.clone();
        g = tf.engine().runKernel(RELU_GRAD, {dy: d, y}) as tf.Tensor;
        return g;
      }, releaser([d], saved));
    },
  },
  {
    // Same gradient as tfjs' (dy where x > 0), read from the output so the ReLU's input need not be kept.
    kernelName: 'Relu',
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [y] = saved;
      const d = dy as tf.Tensor;
      return lazyGrads(['x'], () => tf.engine().runKernel(RELU_GRAD, {dy: d, y}) as tf.Tensor, releaser([d], saved));
    },
  },
];
