/**
 * The native kernels, as tfjs kernel configs for the cpu backend: each reads its inputs' buffers, checks that
 * the addon can handle them (float32, NHWC, a geometry oneDNN expresses), writes its output into a pooled
 * buffer through the addon, and otherwise runs the original tfjs-cpu kernel. Calls are counted by path.
 */
import * as tf from '@tensorflow/tfjs-core';
import {pool, VIEW_MAKERS} from './buffer-pool';
import {broadcastPlan, convParams, isNHWC, poolParams, sizeOf} from './geometry';
import type {NativeAddon} from './native-addon';

/**
 * Names of the kernels this module adds (tfjs has no grouped convolution nor a training batch norm). The
 * training batch norm takes an optional input `residual` (a residual block's shortcut, added to its output;
 * attribute `residual` says whether it is there) and an attribute `relu` (the ReLU that follows), fused into
 * the same pass.
 */
export const GROUPED_CONV2D = 'GroupedConv2D';
export const GROUPED_CONV2D_BACKPROP_INPUT = 'GroupedConv2DBackpropInput';
export const GROUPED_CONV2D_BACKPROP_FILTER = 'GroupedConv2DBackpropFilter';
export const BATCH_NORM_TRAINING = 'BatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'BatchNormTrainingGrad';
export const RELU_GRAD = 'ReluGradFromOutput';
/** max(0, a + b) for same-shape a and b: a residual block's sum and its ReLU in one pass. */
export const ADD_RELU = 'AddRelu';
export const SGD_UPDATE = 'SgdMomentumUpdate';

const BACKEND = 'cpu';

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

export type Backend = {
  data: {get(id: tf.DataId): {values?: unknown}};
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
};
export type KernelArgs = {inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap};

export function f32(backend: Backend, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (!t || t.dtype !== 'float32') return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : undefined;
}

/** Kinds of the addon's conv(): the forward pass and the two backward passes. */
const CONV_FORWARD = 0;
const CONV_BACKWARD_DATA = 1;
const CONV_BACKWARD_WEIGHTS = 2;

const ACTIVATIONS: Record<string, number> = {linear: 0, relu: 1, relu6: 2, leakyrelu: 3, elu: 4, sigmoid: 5};

const BINARY_OPS: Record<string, number> = {Add: 0, Sub: 1, Multiply: 2, RealDiv: 3};

/**
 * The kernel configs; `original(name)` is the tfjs-cpu kernel a replaced kernel falls back to.
 */
export function makeKernels(native: NativeAddon, original: (name: string) => tf.KernelFunc): tf.KernelConfig[] {
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
    const {x, gamma, beta, residual} = inputs as Record<string, tf.TensorInfo | undefined>;
    const xv = f32(backend, x), gv = f32(backend, gamma), bv = f32(backend, beta);
    if (!xv || !gv || !bv || x!.shape.length !== 4) throw new Error(`${BATCH_NORM_TRAINING}: expects float32 NHWC input, got ${x!.dtype} ${x!.shape}`);
    const rv = residual ? f32(backend, residual) : null;
    if (rv === undefined || (residual && !tf.util.arraysEqual(residual.shape, x!.shape))) {
      throw new Error(`${BATCH_NORM_TRAINING}: the residual must be float32 of the input's shape ${x!.shape}, got ${residual!.dtype} ${residual!.shape}`);
    }
    const c = x!.shape[3];
    const y = pool.alloc(xv.length), mean = new Float32Array(c), variance = new Float32Array(c);
    native.batchNormForward(Int32Array.from(x!.shape), xv, gv, bv, attrs.epsilon as number, y, mean, variance, attrs.relu === true, rv);
    count('native', BATCH_NORM_TRAINING);
    return [
      backend.makeTensorInfo(x!.shape.slice(), 'float32', y),
      backend.makeTensorInfo([c], 'float32', mean),
      backend.makeTensorInfo([c], 'float32', variance),
    ];
  };

  const batchNormTrainingGrad = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    // y, when given, is the output of a batch norm with a fused ReLU: dy is then taken through the ReLU first.
    // With attribute `residual` as well, a fourth output is that gated gradient: the fused residual's.
    const {dy, x, gamma, mean, variance, y} = inputs as Record<string, tf.TensorInfo | undefined>;
    const vals = [dy, x, gamma, mean, variance].map((t) => f32(backend, t));
    const yv = y ? f32(backend, y) : null;
    if (vals.some((v) => !v) || yv === undefined) throw new Error(`${BATCH_NORM_TRAINING_GRAD}: expects float32 inputs`);
    const [dyv, xv, gv, mv, vv] = vals as Float32Array[];
    const c = x!.shape[3];
    const dx = pool.alloc(xv.length), dgamma = new Float32Array(c), dbeta = new Float32Array(c);
    const dz = yv && attrs.residual === true ? pool.alloc(xv.length) : null;
    native.batchNormBackward(Int32Array.from(x!.shape), xv, dyv, gv, mv, vv, attrs.epsilon as number, dx, dgamma, dbeta, yv, dz);
    count('native', BATCH_NORM_TRAINING_GRAD);
    return [
      backend.makeTensorInfo(x!.shape.slice(), 'float32', dx),
      backend.makeTensorInfo([c], 'float32', dgamma),
      backend.makeTensorInfo([c], 'float32', dbeta),
      ...(dz ? [backend.makeTensorInfo(x!.shape.slice(), 'float32', dz)] : []),
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

  const addRelu = (args: KernelArgs) => {
    const {inputs, backend} = args;
    const {a, b} = inputs as Record<string, tf.TensorInfo>;
    const av = f32(backend, a), bv = f32(backend, b);
    if (!av || !bv || !tf.util.arraysEqual(a.shape, b.shape)) throw new Error(`${ADD_RELU}: expects float32 tensors of one shape`);
    const out = pool.alloc(av.length);
    native.addRelu(av, bv, out, av.length);
    count('native', ADD_RELU);
    return backend.makeTensorInfo(a.shape.slice(), 'float32', out);
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

  // Matrix products (the classifier and its gradients): tfjs-cpu's JavaScript loop took 0.2-1 ms for a 32x64x10
  // product, and much longer for an ImageNet-size classifier. Batches of equal outer shape, or with one operand
  // unbatched; other broadcasts fall back.
  const batchMatMul = (args: KernelArgs) => {
    const {inputs, backend, attrs = {}} = args;
    const a = inputs.a as tf.TensorInfo, b = inputs.b as tf.TensorInfo;
    const ta = Boolean(attrs.transposeA), tb = Boolean(attrs.transposeB);
    const av = f32(backend, a), bv = f32(backend, b);
    const ra = a.shape.length, rb = b.shape.length;
    const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
    const batchA = sizeOf(outerA), batchB = sizeOf(outerB);
    const [m, k] = ta ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
    const [kb, n] = tb ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
    const sameBatch = batchA === batchB && tf.util.arraysEqual(outerA, outerB);
    if (!av || !bv || ra < 2 || rb < 2 || k !== kb || !(sameBatch || batchA === 1 || batchB === 1)) {
      count('fallback', 'BatchMatMul');
      return original('BatchMatMul')(args as never);
    }
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    const batch = sizeOf(outer);
    const out = pool.alloc(batch * m * n);
    native.matMul(av, bv, out, batch, batchA > 1, batchB > 1, m, n, k, ta, tb);
    count('native', 'BatchMatMul');
    return backend.makeTensorInfo([...outer, m, n], 'float32', out);
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
    k(ADD_RELU, addRelu),
    k('AddN', (a) => sameShapeSum(a, 'AddN', a.inputs as unknown as tf.TensorInfo[])),
    ...Object.keys(BINARY_OPS).map((name) => k(name, (a) => binaryOp(a, name))),
    k('BatchMatMul', batchMatMul),
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
