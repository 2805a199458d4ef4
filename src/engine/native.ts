/**
 * The native-cpu engine: native kernels (a Node-API addon over oneDNN, native/) registered on the tfjs `cpu`
 * backend. Convolutions and pooling run on oneDNN; batch norm, ReLU, broadcasting arithmetic, sums, slices and
 * padding are plain OpenMP loops in the addon. A batch norm and the ReLU after it, and a residual sum and its
 * ReLU, run as one pass each (ops.ts batchNormTrain's `relu`, addRelu). This module installs and uninstalls
 * them; the parts:
 *   native-addon.ts      loading the addon
 *   tfjs-internals.ts    the check that tfjs still has the internals the rest relies on
 *   buffer-pool.ts       recycled output buffers (the cpu backend's dispose feeds them back)
 *   geometry.ts          parameter packing for convolution and pooling, broadcasting as strides (pure)
 *   native-kernels.ts    the kernel configs, each falling back to the tfjs-cpu kernel it replaces
 *   native-gradients.ts  gradients of the heavy nodes, freeing their tensors as early as PyTorch does
 *
 * Replaced kernels keep the original tfjs-cpu implementation as their fallback: inputs the addon does
 * not handle (other dtypes, NCHW, non-contiguous reduction axes, shapes oneDNN rejects) run the
 * reference code. Added kernels (`GroupedConv2D`, `BatchNormTraining`) carry registered gradients whose
 * backward kernels are native too, so autodiff runs one native pass per layer each way.
 *
 * The addon is context-aware: every worker thread that installs the kernels gets its own oneDNN
 * primitive cache and its own thread count (OpenMP's thread count is per calling thread).
 */
import * as tf from '@tensorflow/tfjs-core';
import {hookBackend} from './buffer-pool';
import {loadAddon} from './native-addon';
import {gradients} from './native-gradients';
import {ADD_RELU, BATCH_NORM_TRAINING, GROUPED_CONV2D, makeKernels, SGD_UPDATE} from './native-kernels';
import {type BatchNormTrainResult, compositeAddRelu, compositeMovingAverage, compositeSgdUpdate, setOpImpls, type SgdStep} from './ops';
import type {Precision} from './precision';
import {checkTfjsInternals} from './tfjs-internals';

export {addonPath, loadAddon, nativeInfo, type NativeAddon} from './native-addon';
export {bufferPoolStats, releaseNativeBuffers} from './buffer-pool';
export {broadcastPlan} from './geometry';
export {
  ADD_RELU, BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, GROUPED_CONV2D, GROUPED_CONV2D_BACKPROP_FILTER, GROUPED_CONV2D_BACKPROP_INPUT,
  RELU_GRAD, SGD_UPDATE, nativeStats, resetNativeStats, type NativeStats,
} from './native-kernels';

const BACKEND = 'cpu';

interface Installed {
  unhook: () => void;
  originals: Map<string, tf.KernelConfig>;
  added: string[];
  gradients: Map<string, tf.GradConfig | undefined>;
}
let installed: Installed | undefined;

function groupedConv2dOp(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, groups: number): tf.Tensor4D {
  if (groups === 1) return tf.conv2d(x, filter, stride, pad);
  return tf.engine().runKernel(GROUPED_CONV2D, {x, filter}, {strides: stride, pad, groups}) as tf.Tensor4D;
}

/** Whether the fused kernels take a and b together: float32 tensors of one shape (no broadcasting). */
function sameFloat32(a: tf.Tensor, b: tf.Tensor): boolean {
  return a.dtype === 'float32' && b.dtype === 'float32' && tf.util.arraysEqual(a.shape, b.shape);
}

function batchNormTrainOp(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, relu: boolean, residual?: tf.Tensor4D,
): BatchNormTrainResult {
  if (residual && !sameFloat32(residual, x)) {
    // A shortcut the kernel does not take (broadcasting, another type): the sum and ReLU run on their own.
    const r = batchNormTrainOp(x, gamma, beta, eps, false);
    return {...r, y: relu ? addReluOp(r.y, residual) : tf.add(r.y, residual)};
  }
  const inputs: tf.NamedTensorMap = residual ? {x, gamma, beta, residual} : {x, gamma, beta};
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING, inputs, {epsilon: eps, relu, residual: residual !== undefined}) as tf.Tensor[];
  return {y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D};
}

/**
 * The running statistics are a few hundred values per batch norm, updated twice a step: computed here from
 * the values at hand (the cpu backend holds them in memory) instead of as four kernels and two scalars,
 * with the same float32 roundings as the composite (each product and the sum rounded to float32).
 */
function movingAverageOp(running: tf.Tensor1D, batch: tf.Tensor1D, momentum: number, scale: number): tf.Tensor1D {
  if (running.dtype !== 'float32' || batch.dtype !== 'float32' || running.size !== batch.size) {
    return compositeMovingAverage(running, batch, momentum, scale);
  }
  const r = running.dataSync(), s = batch.dataSync();
  const keep = Math.fround(1 - momentum), take = Math.fround(momentum * scale);
  const out = new Float32Array(r.length);
  for (let i = 0; i < r.length; i++) out[i] = Math.fround(Math.fround(r[i] * keep) + Math.fround(s[i] * take));
  return tf.tensor1d(out);
}

function addReluOp(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
  if (!sameFloat32(a, b)) return compositeAddRelu(a, b);
  return tf.engine().runKernel(ADD_RELU, {a, b}) as tf.Tensor4D;
}

function sgdUpdateOp(w: tf.Tensor, velocity: tf.Tensor, grad: tf.Tensor, step: SgdStep): {w: tf.Tensor; velocity: tf.Tensor} {
  if (step.momentum <= 0 || w.dtype !== 'float32') return compositeSgdUpdate(w, velocity, grad, step);
  const [nw, nv] = tf.engine().runKernel(SGD_UPDATE, {w, velocity, grad},
    {lr: step.lr, momentum: step.momentum, weightDecay: step.weightDecay, nesterov: step.nesterov}) as tf.Tensor[];
  return {w: nw, velocity: nv};
}

export interface NativeOptions {
  /**
   * Choose each convolution's implementation by timing the candidates (faster, but the choice depends on
   * the machine's load at that moment, so results may differ in the last bits between runs). Default off:
   * oneDNN's first choice, a function of the shapes, ISA and thread count, so runs are bit-for-bit repeatable.
   */
  autotune?: boolean;
  /** The type convolutions compute in (engine/precision.ts); default fp32. */
  precision?: Precision;
}

/**
 * Registers the native kernels on the tfjs cpu backend and installs the native op implementations. A missing
 * or unloadable addon is a reason to fall back; a tfjs without the internals the kernels rely on is an
 * EnvironmentError (engine/tfjs-internals.ts).
 */
export function installNativeKernels(threads: number, opts: NativeOptions = {}): {ok: true} | {ok: false; reason: string} {
  const loaded = loadAddon();
  if (!loaded.ok) return loaded;
  if (!installed) checkTfjsInternals();
  const native = loaded.addon;
  try {
    native.setThreads(Math.max(1, Math.floor(threads)));
    native.setAutotune(opts.autotune ?? false);
  } catch (err) {
    return {ok: false, reason: `the native addon rejected the thread count: ${(err as Error).message}`};
  }
  native.setPrecision(opts.precision ?? 'fp32');
  if (!installed) {
    const originals = new Map<string, tf.KernelConfig>();
    const original = (name: string): tf.KernelFunc => {
      const cfg = originals.get(name);
      if (!cfg) throw new Error(`no reference kernel ${name} on the cpu backend`);
      return cfg.kernelFunc;
    };
    const configs = makeKernels(native, original);
    const added: string[] = [];
    for (const cfg of configs) {
      const prev = tf.getKernel(cfg.kernelName, BACKEND);
      if (prev) {
        originals.set(cfg.kernelName, prev);
        tf.unregisterKernel(cfg.kernelName, BACKEND);
      } else {
        added.push(cfg.kernelName);
      }
      tf.registerKernel(cfg);
    }
    const prevGradients = new Map<string, tf.GradConfig | undefined>();
    for (const g of gradients) {
      prevGradients.set(g.kernelName, tf.getGradient(g.kernelName));
      if (tf.getGradient(g.kernelName)) tf.unregisterGradient(g.kernelName);
      tf.registerGradient(g);
    }
    installed = {unhook: hookBackend(), originals, added, gradients: prevGradients};
  }
  setOpImpls({conv2d: groupedConv2dOp, batchNormTrain: batchNormTrainOp, addRelu: addReluOp, movingAverage: movingAverageOp, sgdUpdate: sgdUpdateOp});
  return {ok: true};
}

/** Restores the reference kernels and gradients (used when switching a process back to tfjs-cpu, and by tests). */
export function uninstallNativeKernels(): void {
  setOpImpls(undefined);
  if (!installed) return;
  installed.unhook();
  for (const [name, cfg] of installed.originals) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(cfg);
  }
  for (const name of installed.added) tf.unregisterKernel(name, BACKEND);
  for (const [name, cfg] of installed.gradients) {
    // Restore only where ours is still the registered one (gradients registered later win, as in tfjs).
    if (!gradients.includes(tf.getGradient(name) as tf.GradConfig)) continue;
    tf.unregisterGradient(name);
    if (cfg) tf.registerGradient(cfg);
  }
  installed = undefined;
}

export function nativeKernelsInstalled(): boolean {
  return installed !== undefined;
}
