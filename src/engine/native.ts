/**
 * Native CPU kernels: a Node-API addon (native/) registered on the tfjs `cpu` backend. Convolutions and
 * pooling run on oneDNN; batch norm, ReLU, broadcasting arithmetic, sums, slices and padding are plain
 * OpenMP loops in the addon.
 *
 * Replaced kernels keep the original tfjs-cpu implementation as their fallback: inputs the addon does
 * not handle (other dtypes, NCHW, non-contiguous reduction axes, shapes oneDNN rejects) run the
 * reference code. Added kernels (`GroupedConv2D`, `BatchNormTraining`) carry registered gradients whose
 * backward kernels are native too, so autodiff runs one native pass per layer each way.
 *
 * Two memory policies differ from tfjs-cpu's: native kernels write into recycled output buffers (see
 * BufferPool), and the heavy nodes' gradients free their tensors as soon as they are done (see releaser).
 *
 * The addon is context-aware: every worker thread that installs the kernels gets its own oneDNN
 * primitive cache and its own thread count (OpenMP's thread count is per calling thread).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {addonPath} from './available';
import {type BatchNormTrainResult, compositeSgdUpdate, setOpImpls, type SgdStep} from './ops';

/** The addon's JavaScript surface (native/src/addon.cc). */
export interface NativeAddon {
  info(): {dnnl: string; cpuRuntime: string; isa: string; threads: number; ompMaxThreads: number; convPrimitives: number; scratchpadBytes: number};
  setThreads(n: number): void;
  conv(kind: number, params: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array,
    bias?: Float32Array | null, activation?: number, alpha?: number): void;
  batchNormForward(params: Int32Array, x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number,
    y: Float32Array, mean: Float32Array, variance: Float32Array): void;
  batchNormBackward(params: Int32Array, x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array,
    variance: Float32Array, eps: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void;
  channelNormalise(x: Float32Array, rows: number, c: number, center: Float32Array, scale: Float32Array, shift: Float32Array,
    out: Float32Array): void;
  relu(x: Float32Array, y: Float32Array, n: number): void;
  reluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, n: number): void;
  addN(inputs: Float32Array[], out: Float32Array, n: number): void;
  sgdUpdate(w: Float32Array, v: Float32Array, g: Float32Array, n: number, lr: number, momentum: number, weightDecay: number,
    nesterov: boolean, wOut: Float32Array, vOut: Float32Array): void;
  copyBlock(src: Float32Array, srcShape: number[], srcBegin: number[], dst: Float32Array, dstShape: number[],
    dstBegin: number[], size: number[]): void;
  fill(dst: Float32Array, value: number, n: number): void;
  binary(op: number, a: Float32Array, aStrides: number[], b: Float32Array, bStrides: number[], out: Float32Array, outShape: number[]): void;
  reduceSum(x: Float32Array, outer: number, reduce: number, inner: number, out: Float32Array, scale: number): void;
  pool(kind: number, algo: number, params: Int32Array, a: Float32Array, b: Float32Array | null, out: Float32Array): void;
}

/** Names of the kernels this module adds (tfjs has no grouped convolution nor a training batch norm). */
export const GROUPED_CONV2D = 'GroupedConv2D';
export const GROUPED_CONV2D_BACKPROP_INPUT = 'GroupedConv2DBackpropInput';
export const GROUPED_CONV2D_BACKPROP_FILTER = 'GroupedConv2DBackpropFilter';
export const BATCH_NORM_TRAINING = 'BatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'BatchNormTrainingGrad';
export const RELU_GRAD = 'ReluGradFromOutput';
export const SGD_UPDATE = 'SgdMomentumUpdate';

const BACKEND = 'cpu';

let addon: NativeAddon | undefined;

/**
 * OpenMP threads busy-wait after each parallel region by default, expecting the next one soon. Here
 * JavaScript runs between kernels, and the spinning threads take the cores that the JavaScript thread
 * and the other trials need: on a loaded 2-core machine a ResNet-20 step took 3.7x longer. Passive
 * waiting costs a wake-up per region instead. The runtime reads this once, when the kernels load, from
 * the C environment, which process.env does not reach from a worker thread; a small helper addon sets
 * it. A wait policy or spin count chosen by the user is kept.
 */
function preferPassiveOpenMP(dir: string): void {
  if (process.env.OMP_WAIT_POLICY !== undefined || process.env.GOMP_SPINCOUNT !== undefined) return;
  const helper = path.join(dir, 'ablate_env.node');
  if (!fs.existsSync(helper)) return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(helper) as {setDefault(name: string, value: string): string}).setDefault('OMP_WAIT_POLICY', 'passive');
  } catch {
    // Only a tuning default; the kernels work without it.
  }
}

/** Loads the addon once per JavaScript context; returns it, or the reason it cannot be used. */
export function loadAddon(): {ok: true; addon: NativeAddon} | {ok: false; reason: string} {
  if (addon) return {ok: true, addon};
  const file = addonPath();
  if (!fs.existsSync(file)) {
    return {ok: false, reason: `the native addon is not built (${file} does not exist)`};
  }
  try {
    preferPassiveOpenMP(path.dirname(file));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
    addon.info();
    return {ok: true, addon};
  } catch (err) {
    addon = undefined;
    return {ok: false, reason: `the native addon at ${file} failed to load: ${(err as Error).message.split('\n')[0]}`};
  }
}

/** Counts of kernel calls by path, for tests and the benchmark's report of what ran natively. */
export interface NativeStats {
  native: Record<string, number>;
  fallback: Record<string, number>;
}
const stats: NativeStats = {native: {}, fallback: {}};
export function nativeStats(): NativeStats {
  return {native: {...stats.native}, fallback: {...stats.fallback}};
}
export function resetNativeStats(): void {
  stats.native = {};
  stats.fallback = {};
}
function count(kind: 'native' | 'fallback', name: string): void {
  stats[kind][name] = (stats[kind][name] ?? 0) + 1;
}

type Backend = {
  data: {get(id: tf.DataId): {values?: unknown}};
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
};
type KernelArgs = {inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap};

function f32(backend: Backend, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (!t || t.dtype !== 'float32') return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : undefined;
}

function sizeOf(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Output buffers
//
// A fresh Float32Array of a few megabytes costs more than the memory-bound kernel that fills it: its
// pages are mapped and zeroed on first touch (about 10 ms for 8 MB against 1 ms for the kernel). The
// native kernels therefore take their outputs from a pool that the cpu backend refills when it
// disposes a tensor the pool handed out. A buffer is recycled only when nothing else can still see
// it: buffers read out of the backend (dataSync, data, arraySync) and buffers that other kernels
// turn into views (contiguous slices, unstack, split) are pinned and left to the garbage collector.

const POOL_MAX_BYTES = Number(process.env.ABLATE_NATIVE_POOL_MB ?? 1024) * 2 ** 20;

class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  /** Buffers handed out by alloc() and still eligible for recycling. */
  private readonly owned = new WeakSet<Float32Array>();
  private pooledBytes = 0;
  recycled = 0;
  fresh = 0;

  /** An uninitialised buffer of n floats: the caller must write every element. */
  alloc(n: number): Float32Array {
    const list = this.free.get(n);
    const a = list?.pop();
    if (a) {
      this.pooledBytes -= a.byteLength;
      this.recycled++;
      this.owned.add(a);
      return a;
    }
    this.fresh++;
    const b = new Float32Array(n);
    this.owned.add(b);
    return b;
  }

  pin(values: unknown): void {
    if (values instanceof Float32Array) this.owned.delete(values);
  }

  release(values: unknown): void {
    if (!(values instanceof Float32Array) || !this.owned.has(values)) return;
    this.owned.delete(values);
    if (this.pooledBytes + values.byteLength > POOL_MAX_BYTES) return;
    let list = this.free.get(values.length);
    if (!list) this.free.set(values.length, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): {pooledBytes: number; recycled: number; fresh: number} {
    return {pooledBytes: this.pooledBytes, recycled: this.recycled, fresh: this.fresh};
  }
}

const pool = new BufferPool();

/** Drops the free buffers the pool keeps (a worker between trials of different sizes). */
export function releaseNativeBuffers(): void {
  pool.clear();
}

/** Buffer pool figures (for tests and the benchmark). */
export function bufferPoolStats(): {pooledBytes: number; recycled: number; fresh: number} {
  return pool.stats();
}

interface CpuBackendData {
  data: {get(id: tf.DataId): {values?: unknown} | undefined; has(id: tf.DataId): boolean};
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  readSync(dataId: tf.DataId): unknown;
}

/** Kernels of the cpu backend whose outputs may be views of their inputs (they slice without copying). */
const VIEW_MAKERS = ['BatchToSpaceND', 'SplitV', 'StridedSlice', 'Unpack'];

function hookBackend(): () => void {
  const backend = tf.findBackend(BACKEND) as unknown as CpuBackendData | undefined;
  if (!backend) return () => undefined;
  const dispose = backend.disposeData;
  const readSync = backend.readSync;
  backend.disposeData = function (dataId: tf.DataId, force?: boolean): boolean {
    const values = this.data.get(dataId)?.values;
    const result = dispose.call(this, dataId, force);
    if (values !== undefined && !this.data.has(dataId)) pool.release(values);
    return result;
  };
  backend.readSync = function (dataId: tf.DataId): unknown {
    pool.pin(this.data.get(dataId)?.values);
    return readSync.call(this, dataId);
  };
  return () => {
    backend.disposeData = dispose;
    backend.readSync = readSync;
    pool.clear();
  };
}

// ---------------------------------------------------------------------------------------------
// Convolution geometry

const CONV_FORWARD = 0;
const CONV_BACKWARD_DATA = 1;
const CONV_BACKWARD_WEIGHTS = 2;

/**
 * Packs the geometry the addon expects: N,H,W,C, OC, KH,KW, OH,OW, SH,SW, DH,DW, PT,PL,PB,PR, G.
 * Returns undefined when oneDNN cannot express it (the caller then uses the reference kernel).
 */
function convParams(
  xShape: number[], filterShape: number[], strides: number | [number, number], dilations: number | [number, number],
  pad: unknown, dimRoundingMode: unknown, groups: number,
): Int32Array | undefined {
  if (xShape.length !== 4 || filterShape.length !== 4) return undefined;
  // computeConv2DInfo reads input channels from x; give it a filter shape with the full count.
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    [filterShape[0], filterShape[1], xShape[3], filterShape[3]],
    strides, dilations, pad as 'same', dimRoundingMode as 'floor' | undefined, false, 'channelsLast');
  if (filterShape[2] * groups !== xShape[3] || info.outChannels % groups !== 0) return undefined;
  const dims: Array<[number, number, number, number, number, number]> = [
    [info.inHeight, info.filterHeight, info.dilationHeight, info.strideHeight, info.padInfo.top, info.padInfo.bottom],
    [info.inWidth, info.filterWidth, info.dilationWidth, info.strideWidth, info.padInfo.left, info.padInfo.right],
  ];
  const out = [info.outHeight, info.outWidth];
  const padR: number[] = [];
  for (let i = 0; i < 2; i++) {
    const [size, k, d, s, lo, hi] = dims[i];
    const span = (k - 1) * d + 1;
    let r = hi;
    // oneDNN requires out == floor((in + lo + r - span) / s) + 1; tfjs' ceil/round modes may not satisfy it
    // with the padding they report, so derive the right padding from the output size.
    if (Math.floor((size + lo + r - span) / s) + 1 !== out[i]) r = (out[i] - 1) * s + span - size - lo;
    if (lo < 0 || r + s <= 0 || out[i] < 1) return undefined;
    padR.push(r);
  }
  if (info.batchSize < 1) return undefined;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outChannels,
    info.filterHeight, info.filterWidth, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left, padR[0], padR[1], groups,
  ]);
}

function isNHWC(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

const ACTIVATIONS: Record<string, number> = {linear: 0, relu: 1, relu6: 2, leakyrelu: 3, elu: 4, sigmoid: 5};

/** Pooling geometry for the addon: N,H,W,C, KH,KW, OH,OW, SH,SW, PT,PL,PB,PR (undefined: not expressible). */
function poolParams(xShape: number[], filterSize: unknown, strides: unknown, pad: unknown, dimRoundingMode: unknown): Int32Array | undefined {
  if (xShape.length !== 4) return undefined;
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], filterSize as number, strides as number, 1,
    pad as 'same', dimRoundingMode as 'floor' | undefined);
  const padR: number[] = [];
  const dims: Array<[number, number, number, number, number, number]> = [
    [info.inHeight, info.filterHeight, info.strideHeight, info.padInfo.top, info.padInfo.bottom, info.outHeight],
    [info.inWidth, info.filterWidth, info.strideWidth, info.padInfo.left, info.padInfo.right, info.outWidth],
  ];
  for (const [size, k, s, lo, hi, out] of dims) {
    let r = hi;
    if (Math.floor((size + lo + r - k) / s) + 1 !== out) r = (out - 1) * s + k - size - lo;
    // oneDNN needs each window to overlap the image; padding at least as large as the window is left to tfjs.
    if (lo < 0 || r < 0 || lo >= k || r >= k || out < 1) return undefined;
    padR.push(r);
  }
  return Int32Array.from([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth,
    info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, padR[0], padR[1]]);
}

const BINARY_OPS: Record<string, number> = {Add: 0, Sub: 1, Multiply: 2, RealDiv: 3};

/**
 * Broadcasting as element strides: the output shape with size-1 dimensions dropped and neighbours that
 * broadcast alike merged, and for each operand the stride of every remaining dimension (0 = broadcast).
 */
export function broadcastPlan(aShape: number[], bShape: number[]): {shape: number[]; sa: number[]; sb: number[]; outShape: number[]} {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const rank = outShape.length;
  const pa = [...Array(rank - aShape.length).fill(1), ...aShape];
  const pb = [...Array(rank - bShape.length).fill(1), ...bShape];
  const groups: Array<{size: number; ba: boolean; bb: boolean}> = [];
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const ba = pa[d] === 1, bb = pb[d] === 1;
    const last = groups[groups.length - 1];
    if (last && last.ba === ba && last.bb === bb) last.size *= outShape[d];
    else groups.push({size: outShape[d], ba, bb});
  }
  if (groups.length === 0) groups.push({size: 1, ba: false, bb: false});
  const shape = groups.map((g) => g.size);
  const sa = new Array<number>(groups.length), sb = new Array<number>(groups.length);
  let ra = 1, rb = 1;
  for (let i = groups.length - 1; i >= 0; i--) {
    sa[i] = groups[i].ba ? 0 : ra;
    sb[i] = groups[i].bb ? 0 : rb;
    if (!groups[i].ba) ra *= groups[i].size;
    if (!groups[i].bb) rb *= groups[i].size;
  }
  return {shape, sa, sb, outShape};
}

// ---------------------------------------------------------------------------------------------
// Kernels

interface Installed {
  unhook: () => void;
  originals: Map<string, tf.KernelConfig>;
  added: string[];
  gradients: Map<string, tf.GradConfig | undefined>;
}
let installed: Installed | undefined;

function makeKernels(native: NativeAddon, original: (name: string) => tf.KernelFunc): tf.KernelConfig[] {
  /** Runs `fn`; a native failure (oneDNN rejecting a shape) falls back to the reference kernel for that shape from then on. */
  const rejected = new Set<string>();
  function attempt(name: string, key: string, args: KernelArgs, fn: () => tf.TensorInfo | tf.TensorInfo[]) {
    if (!rejected.has(key)) {
      try {
        const r = fn();
        count('native', name);
        return r;
      } catch (err) {
        if ((err as {dnnlStatus?: number}).dnnlStatus === undefined) throw err;
        rejected.add(key);
      }
    }
    count('fallback', name);
    return original(name)(args as never);
  }

  const conv2D = (args: KernelArgs, fused: boolean) => {
    const {inputs, backend, attrs = {}} = args;
    const name = fused ? 'FusedConv2D' : 'Conv2D';
    const {x, filter, bias, preluActivationWeights} = inputs as Record<string, tf.TensorInfo | undefined>;
    const xv = f32(backend, x), wv = f32(backend, filter);
    const activation = fused ? (attrs.activation as string | undefined) ?? 'linear' : 'linear';
    const act = ACTIVATIONS[activation];
    const biasV = bias ? f32(backend, bias) : undefined;
    const p = xv && wv && isNHWC(attrs.dataFormat) && act !== undefined && !preluActivationWeights &&
      (!bias || (biasV && bias.shape.length === 1 && bias.shape[0] === filter!.shape[3]))
      ? convParams(x!.shape, filter!.shape, attrs.strides as number, attrs.dilations as number, attrs.pad, attrs.dimRoundingMode, 1)
      : undefined;
    if (!p) {
      count('fallback', name);
      return original(name)(args as never);
    }
    return attempt(name, `${name}:${p.join(',')}:${bias ? 1 : 0}:${activation}`, args, () => {
      const outShape = [p[0], p[7], p[8], p[4]];
      const y = pool.alloc(sizeOf(outShape));
      native.conv(CONV_FORWARD, p, xv!, wv!, y, biasV ?? null, act, (attrs.leakyreluAlpha as number | undefined) ?? 0.2);
      return backend.makeTensorInfo(outShape, 'float32', y);
    });
  };

  const backpropInput = (args: KernelArgs, name: string, groups: number) => {
    const {inputs, backend, attrs = {}} = args;
    const {dy, filter} = inputs as Record<string, tf.TensorInfo>;
    const inputShape = attrs.inputShape as number[];
    const dyv = f32(backend, dy), wv = f32(backend, filter);
    const p = dyv && wv && isNHWC(attrs.dataFormat)
      ? convParams(inputShape, filter.shape, attrs.strides as number, (attrs.dilations as number | undefined) ?? 1, attrs.pad, attrs.dimRoundingMode, groups)
      : undefined;
    if (!p || p[0] !== dy.shape[0] || p[7] !== dy.shape[1] || p[8] !== dy.shape[2] || p[4] !== dy.shape[3]) {
      if (groups !== 1) throw new Error(`${name}: unsupported geometry (input ${inputShape}, filter ${filter.shape}, dy ${dy.shape})`);
      count('fallback', name);
      return original(name)(args as never);
    }
    return attempt(name, `${name}:${p.join(',')}`, args, () => {
      const dx = pool.alloc(sizeOf(inputShape));
      native.conv(CONV_BACKWARD_DATA, p, dyv!, wv!, dx);
      return backend.makeTensorInfo(inputShape.slice(), 'float32', dx);
    });
  };

  const backpropFilter = (args: KernelArgs, name: string, groups: number) => {
    const {inputs, backend, attrs = {}} = args;
    const {x, dy} = inputs as Record<string, tf.TensorInfo>;
    const filterShape = attrs.filterShape as number[];
    const xv = f32(backend, x), dyv = f32(backend, dy);
    const p = xv && dyv && isNHWC(attrs.dataFormat)
      ? convParams(x.shape, filterShape, attrs.strides as number, (attrs.dilations as number | undefined) ?? 1, attrs.pad, attrs.dimRoundingMode, groups)
      : undefined;
    if (!p || p[7] !== dy.shape[1] || p[8] !== dy.shape[2] || p[4] !== dy.shape[3]) {
      if (groups !== 1) throw new Error(`${name}: unsupported geometry (x ${x.shape}, filter ${filterShape}, dy ${dy.shape})`);
      count('fallback', name);
      return original(name)(args as never);
    }
    return attempt(name, `${name}:${p.join(',')}`, args, () => {
      const dw = pool.alloc(sizeOf(filterShape));
      native.conv(CONV_BACKWARD_WEIGHTS, p, xv!, dyv!, dw);
      return backend.makeTensorInfo(filterShape.slice(), 'float32', dw);
    });
  };

  const groupedConv2D = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const {x, filter} = inputs as Record<string, tf.TensorInfo>;
    const groups = attrs.groups as number;
    const xv = f32(backend, x), wv = f32(backend, filter);
    const p = xv && wv ? convParams(x.shape, filter.shape, attrs.strides as number, 1, attrs.pad, undefined, groups) : undefined;
    if (!p) throw new Error(`${GROUPED_CONV2D}: unsupported input (x ${x.shape} ${x.dtype}, filter ${filter.shape}, groups ${groups})`);
    const outShape = [p[0], p[7], p[8], p[4]];
    const y = pool.alloc(sizeOf(outShape));
    native.conv(CONV_FORWARD, p, xv!, wv!, y);
    count('native', GROUPED_CONV2D);
    return backend.makeTensorInfo(outShape, 'float32', y);
  };

  const batchNormTraining = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const {x, gamma, beta} = inputs as Record<string, tf.TensorInfo>;
    const xv = f32(backend, x), gv = f32(backend, gamma), bv = f32(backend, beta);
    if (!xv || !gv || !bv || x.shape.length !== 4) throw new Error(`${BATCH_NORM_TRAINING}: expects float32 NHWC input, got ${x.dtype} ${x.shape}`);
    const c = x.shape[3];
    const y = pool.alloc(xv.length), mean = new Float32Array(c), variance = new Float32Array(c);
    native.batchNormForward(Int32Array.from(x.shape), xv, gv, bv, attrs.epsilon as number, y, mean, variance);
    count('native', BATCH_NORM_TRAINING);
    return [
      backend.makeTensorInfo(x.shape.slice(), 'float32', y),
      backend.makeTensorInfo([c], 'float32', mean),
      backend.makeTensorInfo([c], 'float32', variance),
    ];
  };

  const batchNormTrainingGrad = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const {dy, x, gamma, mean, variance} = inputs as Record<string, tf.TensorInfo>;
    const vals = [dy, x, gamma, mean, variance].map((t) => f32(backend, t));
    if (vals.some((v) => !v)) throw new Error(`${BATCH_NORM_TRAINING_GRAD}: expects float32 inputs`);
    const [dyv, xv, gv, mv, vv] = vals as Float32Array[];
    const c = x.shape[3];
    const dx = pool.alloc(xv.length), dgamma = new Float32Array(c), dbeta = new Float32Array(c);
    native.batchNormBackward(Int32Array.from(x.shape), xv, dyv, gv, mv, vv, attrs.epsilon as number, dx, dgamma, dbeta);
    count('native', BATCH_NORM_TRAINING_GRAD);
    return [
      backend.makeTensorInfo(x.shape.slice(), 'float32', dx),
      backend.makeTensorInfo([c], 'float32', dgamma),
      backend.makeTensorInfo([c], 'float32', dbeta),
    ];
  };

  // Batch norm with given statistics (tfjs' batchNorm op; evaluation uses it with the running averages).
  const fusedBatchNorm = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const {x, mean, variance, offset, scale} = inputs as Record<string, tf.TensorInfo | undefined>;
    const xv = f32(backend, x);
    const c = x!.shape[x!.shape.length - 1];
    const per = (t: tf.TensorInfo | undefined) => (t ? f32(backend, t) : undefined);
    const [mv, vv, ov, sv] = [per(mean), per(variance), per(offset), per(scale)];
    // Native for per-channel parameters (length C, or absent for scale/offset); other broadcasts use tfjs.
    const fits = (v: Float32Array | undefined, optional: boolean) => (v ? v.length === c : optional);
    if (!xv || x!.shape.length === 0 || !fits(mv, false) || !fits(vv, false) || !fits(ov, true) || !fits(sv, true)) {
      count('fallback', 'FusedBatchNorm');
      return original('FusedBatchNorm')(args as never);
    }
    const eps = (attrs.varianceEpsilon as number | undefined) ?? 0.001;
    const k = new Float32Array(c), shift = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      k[i] = (sv ? sv[i] : 1) / Math.sqrt(vv![i] + eps);
      shift[i] = ov ? ov[i] : 0;
    }
    const out = pool.alloc(xv.length);
    native.channelNormalise(xv, xv.length / c, c, mv!, k, shift, out);
    count('native', 'FusedBatchNorm');
    return backend.makeTensorInfo(x!.shape.slice(), 'float32', out);
  };

  const relu = (args: KernelArgs) => {
    const {inputs, backend} = args;
    const x = inputs.x as tf.TensorInfo;
    const xv = f32(backend, x);
    if (!xv) {
      count('fallback', 'Relu');
      return original('Relu')(args as never);
    }
    const y = pool.alloc(xv.length);
    native.relu(xv, y, xv.length);
    count('native', 'Relu');
    return backend.makeTensorInfo(x.shape.slice(), 'float32', y);
  };

  const reluGrad = (args: KernelArgs) => {
    const {inputs, backend} = args;
    const {dy, y} = inputs as Record<string, tf.TensorInfo>;
    const dyv = f32(backend, dy), yv = f32(backend, y);
    if (!dyv || !yv || dyv.length !== yv.length) throw new Error(`${RELU_GRAD}: expects float32 tensors of one shape`);
    const dx = pool.alloc(dyv.length);
    native.reluGrad(dyv, yv, dx, dyv.length);
    count('native', RELU_GRAD);
    return backend.makeTensorInfo(dy.shape.slice(), 'float32', dx);
  };

  const sameShapeSum = (args: KernelArgs, name: string, list: tf.TensorInfo[]) => {
    const {backend} = args;
    const vals = list.map((t) => f32(backend, t));
    const shape = list[0].shape;
    if (vals.some((v) => !v) || list.some((t) => !tf.util.arraysEqual(t.shape, shape))) {
      count('fallback', name);
      return original(name)(args as never);
    }
    const out = pool.alloc(vals[0]!.length);
    native.addN(vals as Float32Array[], out, out.length);
    count('native', name);
    return backend.makeTensorInfo(shape.slice(), 'float32', out);
  };

  const binaryOp = (args: KernelArgs, name: string) => {
    const {inputs, backend} = args;
    const a = inputs.a as tf.TensorInfo, b = inputs.b as tf.TensorInfo;
    const av = f32(backend, a), bv = f32(backend, b);
    if (!av || !bv) {
      count('fallback', name);
      return original(name)(args as never);
    }
    const plan = broadcastPlan(a.shape, b.shape);
    const out = pool.alloc(sizeOf(plan.outShape));
    native.binary(BINARY_OPS[name], av, plan.sa, bv, plan.sb, out, plan.shape);
    count('native', name);
    return backend.makeTensorInfo(plan.outShape, 'float32', out);
  };

  const slice = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const x = inputs.x as tf.TensorInfo;
    const xv = f32(backend, x);
    const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin as number[], attrs.size as number[]);
    // A contiguous slice is a zero-copy view in tfjs-cpu already.
    if (!xv || x.shape.length === 0 || tf.slice_util.isSliceContinous(x.shape, begin, size)) {
      pool.pin(xv);
      count('fallback', 'Slice');
      return original('Slice')(args as never);
    }
    tf.slice_util.assertParamsValid(x, begin, size);
    const out = pool.alloc(sizeOf(size));
    native.copyBlock(xv, x.shape, begin, out, size, size.map(() => 0), size);
    count('native', 'Slice');
    return backend.makeTensorInfo(size, 'float32', out);
  };

  const padV2 = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const x = inputs.x as tf.TensorInfo;
    const xv = f32(backend, x);
    const paddings = attrs.paddings as Array<[number, number]>;
    if (!xv || x.shape.length === 0 || paddings.some(([lo, hi]) => lo < 0 || hi < 0)) {
      count('fallback', 'PadV2');
      return original('PadV2')(args as never);
    }
    const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
    const out = pool.alloc(sizeOf(outShape));
    // Recycled buffers hold old values: the padding is always written.
    native.fill(out, (attrs.constantValue as number | undefined) ?? 0, out.length);
    native.copyBlock(xv, x.shape, x.shape.map(() => 0), out, outShape, paddings.map((p) => p[0]), x.shape);
    count('native', 'PadV2');
    return backend.makeTensorInfo(outShape, 'float32', out);
  };

  const reduce = (args: KernelArgs, name: 'Sum' | 'Mean') => {
    const {inputs, backend, attrs = {}} = args;
    const x = inputs.x as tf.TensorInfo;
    const xv = f32(backend, x);
    const axes = xv ? tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((p, q) => p - q) : [];
    // Native when the reduced axes are one contiguous block: x viewed as [outer, reduce, inner].
    if (!xv || axes.length === 0 || axes.some((a, i) => a !== axes[0] + i)) {
      count('fallback', name);
      return original(name)(args as never);
    }
    const outer = sizeOf(x.shape.slice(0, axes[0]));
    const red = sizeOf(x.shape.slice(axes[0], axes[axes.length - 1] + 1));
    const inner = sizeOf(x.shape.slice(axes[axes.length - 1] + 1));
    let [outShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    if (attrs.keepDims) outShape = tf.backend_util.expandShapeToKeepDim(outShape, axes);
    const out = pool.alloc(outer * inner);
    native.reduceSum(xv, outer, red, inner, out, name === 'Mean' && red > 0 ? 1 / red : 1);
    count('native', name);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };

  const pooling = (args: KernelArgs, name: string) => {
    const {inputs, backend, attrs = {}} = args;
    const max = name === 'MaxPool' || name === 'MaxPoolGrad';
    const grad = name.endsWith('Grad');
    const x = (grad ? inputs.input : inputs.x) as tf.TensorInfo;
    const xv = f32(backend, x);
    const dy = grad ? inputs.dy as tf.TensorInfo : undefined;
    const dyv = dy ? f32(backend, dy) : undefined;
    const p = xv && (!grad || dyv) && isNHWC(attrs.dataFormat) && (attrs.dilations === undefined || tf.backend_util.tupleValuesAreOne(attrs.dilations as number))
      ? poolParams(x.shape, attrs.filterSize, attrs.strides, attrs.pad, attrs.dimRoundingMode) : undefined;
    // tfjs' AvgPoolGrad spreads each gradient over the whole window, padding included, while its forward
    // pass averages only the pixels inside the image; with padding the reference is kept as is.
    const padded = p && (p[10] | p[11] | p[12] | p[13]) !== 0;
    if (!p || (grad && (dy!.shape[1] !== p[6] || dy!.shape[2] !== p[7])) || (name === 'AvgPoolGrad' && padded)) {
      count('fallback', name);
      return original(name)(args as never);
    }
    return attempt(name, `${name}:${p.join(',')}`, args, () => {
      const outShape = grad ? x.shape.slice() : [p[0], p[6], p[7], p[3]];
      const out = pool.alloc(sizeOf(outShape));
      native.pool(grad ? 1 : 0, max ? 0 : 1, p, grad ? dyv! : xv!, grad ? xv! : null, out);
      return backend.makeTensorInfo(outShape, 'float32', out);
    });
  };

  const sgdUpdate = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const {w, velocity, grad} = inputs as Record<string, tf.TensorInfo>;
    const [wv, vv, gv] = [w, velocity, grad].map((t) => f32(backend, t));
    if (!wv || !vv || !gv || vv.length !== wv.length || gv.length !== wv.length) {
      throw new Error(`${SGD_UPDATE}: expects float32 weights, velocity and gradient of one shape`);
    }
    const wOut = pool.alloc(wv.length), vOut = pool.alloc(wv.length);
    native.sgdUpdate(wv, vv, gv, wv.length, attrs.lr as number, attrs.momentum as number, attrs.weightDecay as number,
      attrs.nesterov as boolean, wOut, vOut);
    count('native', SGD_UPDATE);
    return [backend.makeTensorInfo(w.shape.slice(), 'float32', wOut), backend.makeTensorInfo(w.shape.slice(), 'float32', vOut)];
  };

  const k = (kernelName: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]): tf.KernelConfig =>
    ({kernelName, backendName: BACKEND, kernelFunc: kernelFunc as unknown as tf.KernelFunc});
  return [
    k('Conv2D', (a) => conv2D(a, false)),
    k('FusedConv2D', (a) => conv2D(a, true)),
    k('Conv2DBackpropInput', (a) => backpropInput(a, 'Conv2DBackpropInput', 1)),
    k('Conv2DBackpropFilter', (a) => backpropFilter(a, 'Conv2DBackpropFilter', 1)),
    k(GROUPED_CONV2D, groupedConv2D),
    k(GROUPED_CONV2D_BACKPROP_INPUT, (a) => backpropInput(a, GROUPED_CONV2D_BACKPROP_INPUT, a.attrs!.groups as number)),
    k(GROUPED_CONV2D_BACKPROP_FILTER, (a) => backpropFilter(a, GROUPED_CONV2D_BACKPROP_FILTER, a.attrs!.groups as number)),
    k(BATCH_NORM_TRAINING, batchNormTraining),
    k(BATCH_NORM_TRAINING_GRAD, batchNormTrainingGrad),
    k('FusedBatchNorm', fusedBatchNorm),
    k(SGD_UPDATE, sgdUpdate),
    k('Relu', relu),
    k(RELU_GRAD, reluGrad),
    k('AddN', (a) => sameShapeSum(a, 'AddN', a.inputs as unknown as tf.TensorInfo[])),
    ...Object.keys(BINARY_OPS).map((name) => k(name, (a) => binaryOp(a, name))),
    k('Slice', slice),
    k('PadV2', padV2),
    k('Sum', (a) => reduce(a, 'Sum')),
    k('Mean', (a) => reduce(a, 'Mean')),
    ...['AvgPool', 'AvgPoolGrad', 'MaxPool', 'MaxPoolGrad'].map((name) => k(name, (a) => pooling(a, name))),
    ...VIEW_MAKERS.map((name) => k(name, (a) => {
      for (const t of Object.values(a.inputs)) pool.pin(a.backend.data.get((t as tf.TensorInfo).dataId).values);
      return original(name)(a as never);
    })),
  ];
}

// ---------------------------------------------------------------------------------------------
// Gradients

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
      // is the layer's own weight, which training always differentiates.
      if (i === inputs.length - 1) release();
      return g;
    };
  });
  return out;
}

const gradients: tf.GradConfig[] = [
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
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, gamma, mean, variance] = saved;
      const [dy, dmean, dvar] = dys as Array<tf.Tensor | null>;
      const release = releaser([dy], saved);
      const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD,
        {dy: dy ?? tf.zerosLike(x), x, gamma, mean, variance}, attrs) as tf.Tensor[];
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
      return {x: () => dxAll, gamma: () => dgamma, beta: () => dbeta};
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

// ---------------------------------------------------------------------------------------------
// Install / uninstall

function groupedConv2dOp(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, groups: number): tf.Tensor4D {
  if (groups === 1) return tf.conv2d(x, filter, stride, pad);
  return tf.engine().runKernel(GROUPED_CONV2D, {x, filter}, {strides: stride, pad, groups}) as tf.Tensor4D;
}

function batchNormTrainOp(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): BatchNormTrainResult {
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING, {x, gamma, beta}, {epsilon: eps}) as tf.Tensor[];
  return {y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D};
}

function sgdUpdateOp(w: tf.Tensor, velocity: tf.Tensor, grad: tf.Tensor, step: SgdStep): {w: tf.Tensor; velocity: tf.Tensor} {
  if (step.momentum <= 0 || w.dtype !== 'float32') return compositeSgdUpdate(w, velocity, grad, step);
  const [nw, nv] = tf.engine().runKernel(SGD_UPDATE, {w, velocity, grad},
    {lr: step.lr, momentum: step.momentum, weightDecay: step.weightDecay, nesterov: step.nesterov}) as tf.Tensor[];
  return {w: nw, velocity: nv};
}

/** Registers the native kernels on the tfjs cpu backend and installs the native op implementations. */
export function installNativeKernels(threads: number): {ok: true} | {ok: false; reason: string} {
  const loaded = loadAddon();
  if (!loaded.ok) return loaded;
  const native = loaded.addon;
  try {
    native.setThreads(Math.max(1, Math.floor(threads)));
  } catch (err) {
    return {ok: false, reason: `the native addon rejected the thread count: ${(err as Error).message}`};
  }
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
  setOpImpls({conv2d: groupedConv2dOp, batchNormTrain: batchNormTrainOp, sgdUpdate: sgdUpdateOp});
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

/** What the addon reports about itself (oneDNN version, threading runtime, ISA), or undefined when not loadable. */
export function nativeInfo(): ReturnType<NativeAddon['info']> | undefined {
  const loaded = loadAddon();
  return loaded.ok ? loaded.addon.info() : undefined;
}
