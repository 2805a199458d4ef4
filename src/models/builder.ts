/**
 * Builds a trainable network from a spec: variables from the layout (networkLayout), one apply
 * function per block shape. Every convolution goes through engine/ops `conv2d` and every batch norm
 * through `batchNormTrain` / `batchNormInfer`, so an engine's fast kernels serve all of them.
 */
import * as tf from '@tensorflow/tfjs-core';
import {addRelu, batchNormInfer, batchNormTrain, conv2d, movingAverage} from '../engine/ops';
import {networkLayout, type BlockDef, type BnDef, type ConvDef, type NetworkDef, type ShortcutDef} from './layout';
import {hashSeed} from '../seed';
import type {ModelSpec} from './spec';
import type {ApplyOptions, InputShape, Model} from './types';

/** PyTorch BatchNorm2d defaults. */
export const BN_MOMENTUM = 0.1;
export const BN_EPS = 1e-5;

export interface BuildOptions {
  /** Seeds every initialiser (each layer gets its own seed, hashed from this and its index). */
  seed: number;
}

/** tfjs variable names are global; keys stay stable, names get a per-build prefix. */
let builds = 0;

class ResNet implements Model {
  readonly trainable = new Map<string, tf.Variable>();
  readonly state = new Map<string, tf.Variable>();
  private readonly prefix: string;
  private initIndex = 0;
  private disposed = false;

  constructor(
    private readonly net: NetworkDef,
    private readonly input: InputShape,
    private readonly seed: number,
  ) {
    this.prefix = `resnet${++builds}/`;
    this.createVariables();
  }

  private add(map: Map<string, tf.Variable>, key: string, init: tf.Tensor, trainable: boolean): void {
    if (this.trainable.has(key) || this.state.has(key)) throw new Error(`duplicate variable ${key}`);
    map.set(key, tf.variable(init, trainable, this.prefix + key));
    init.dispose();
  }

  private nextSeed(): number {
    return hashSeed(this.seed, 'init', this.initIndex++);
  }

  private createConv(c: ConvDef): void {
    // He et al. 2015 normal initialisation, fan-out mode as torchvision: std = sqrt(2 / (k * k * out)).
    const std = Math.sqrt(2 / (c.kernel * c.kernel * c.outChannels));
    const shape: [number, number, number, number] = [c.kernel, c.kernel, c.inChannels / c.groups, c.outChannels];
    // The initialiser's seed is drawn either way, so zero-init leaves every other layer's weights unchanged.
    const weight = tf.randomNormal(shape, 0, std, 'float32', this.nextSeed());
    this.add(this.trainable, `${c.name}.weight`, c.zeroInit ? tf.zerosLike(weight) : weight, true);
    if (c.zeroInit) weight.dispose();
    if (c.bias) this.add(this.trainable, `${c.name}.bias`, tf.zeros([c.outChannels]), true);
  }

  private createBn(b: BnDef | undefined): void {
    if (!b) return;
    this.add(this.trainable, `${b.name}.gamma`, b.zeroInit ? tf.zeros([b.channels]) : tf.ones([b.channels]), true);
    this.add(this.trainable, `${b.name}.beta`, tf.zeros([b.channels]), true);
    this.add(this.state, `${b.name}.running_mean`, tf.zeros([b.channels]), false);
    this.add(this.state, `${b.name}.running_var`, tf.ones([b.channels]), false);
  }

  private createVariables(): void {
    const net = this.net;
    this.createConv(net.stem.conv);
    this.createBn(net.stem.bn);
    for (const block of net.blocks) {
      block.convs.forEach((c, i) => {
        // Pre-activation blocks hold BN i before conv i, the others after it; keys are the same either way.
        if (block.kind === 'preact') this.createBn(block.bns[i]);
        this.createConv(c);
        if (block.kind !== 'preact') this.createBn(block.bns[i]);
      });
      if (block.shortcut.kind === 'projection') {
        this.createConv(block.shortcut.conv);
        this.createBn(block.shortcut.bn);
      }
    }
    this.createBn(net.final?.bn);
    // nn.Linear's default initialisation: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    const bound = 1 / Math.sqrt(net.fc.inFeatures);
    const {inFeatures, classes} = net.fc;
    this.add(this.trainable, 'fc.weight', tf.randomUniform([inFeatures, classes], -bound, bound, 'float32', this.nextSeed()), true);
    this.add(this.trainable, 'fc.bias', tf.randomUniform([classes], -bound, bound, 'float32', this.nextSeed()), true);
  }

  private v(key: string): tf.Variable {
    const found = this.trainable.get(key) ?? this.state.get(key);
    if (!found) throw new Error(`missing variable ${key}`);
    return found;
  }

  private conv(x: tf.Tensor4D, c: ConvDef): tf.Tensor4D {
    const y = conv2d(x, this.v(`${c.name}.weight`) as tf.Tensor4D, c.stride, c.pad, c.groups);
    return c.bias ? tf.add(y, this.v(`${c.name}.bias`)) : y;
  }

  /**
   * Batch norm (when the layout has one), plus `residual` when given, then a ReLU when `relu`; in training
   * the three are one op.
   */
  private bn(x: tf.Tensor4D, b: BnDef | undefined, training: boolean, relu = false, residual?: tf.Tensor4D): tf.Tensor4D {
    const finish = (y: tf.Tensor4D) => {
      if (residual) return relu ? addRelu(y, residual) : (tf.add(y, residual) as tf.Tensor4D);
      return relu ? tf.relu(y) : y;
    };
    if (!b) return finish(x);
    const gamma = this.v(`${b.name}.gamma`) as tf.Tensor1D;
    const beta = this.v(`${b.name}.beta`) as tf.Tensor1D;
    const runningMean = this.v(`${b.name}.running_mean`);
    const runningVar = this.v(`${b.name}.running_var`);
    if (!training) return finish(batchNormInfer(x, gamma, beta, runningMean as tf.Tensor1D, runningVar as tf.Tensor1D, BN_EPS));
    const {y, mean, variance} = batchNormTrain(x, gamma, beta, BN_EPS, relu, residual);
    // PyTorch semantics: running = (1 - momentum) * running + momentum * batch, with the unbiased variance.
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    const unbias = n > 1 ? n / (n - 1) : 1;
    runningMean.assign(movingAverage(runningMean as tf.Tensor1D, mean, BN_MOMENTUM));
    runningVar.assign(movingAverage(runningVar as tf.Tensor1D, variance, BN_MOMENTUM, unbias));
    return y;
  }

  private shortcut(x: tf.Tensor4D, preActivated: tf.Tensor4D, s: ShortcutDef, training: boolean): tf.Tensor4D | undefined {
    switch (s.kind) {
      case 'none':
        return undefined;
      case 'identity':
        return x;
      case 'pad': {
        // Option A: x[:, ::stride, ::stride] (a 1x1 average pool is that subsampling, with a gradient), then zero channels.
        const sub = s.stride > 1 ? (tf.avgPool(x, 1, s.stride, 'valid') as tf.Tensor4D) : x;
        return tf.pad(sub, [[0, 0], [0, 0], [0, 0], [s.before, s.after]]);
      }
      case 'projection':
        // Pre-activation blocks project their normalised input (WRN; He et al. 2016b); the others their raw input.
        return this.bn(this.conv(preActivated, s.conv), s.bn, training);
    }
  }

  /** He et al. 2016 Fig. 5: conv-BN-ReLU ... conv-BN, plus the shortcut, then ReLU (basic and bottleneck). */
  private postActivationBlock(x: tf.Tensor4D, block: BlockDef, training: boolean): tf.Tensor4D {
    // The shortcut joins the last batch norm, which adds it before the block's final ReLU.
    const sc = this.shortcut(x, x, block.shortcut, training);
    const last = block.convs.length - 1;
    let out = x;
    block.convs.forEach((c, i) => {
      out = this.bn(this.conv(out, c), block.bns[i], training, true, i === last ? sc : undefined);
    });
    return out;
  }

  /** Zagoruyko & Komodakis 2016 Fig. 1d: BN-ReLU-conv, dropout, BN-ReLU-conv, plus the shortcut. */
  private preActivationBlock(x: tf.Tensor4D, block: BlockDef, index: number, opts: ApplyOptions): tf.Tensor4D {
    const pre = this.bn(x, block.bns[0], opts.training, true);
    let out = this.conv(pre, block.convs[0]);
    out = this.bn(out, block.bns[1], opts.training, true);
    if (opts.training && block.dropout > 0) {
      // One mask stream per block, all fixed by the step's seed.
      const seed = opts.seed === undefined ? undefined : hashSeed(opts.seed, 'dropout', index);
      out = tf.dropout(out, block.dropout, undefined, seed) as tf.Tensor4D;
    }
    out = this.conv(out, block.convs[1]);
    const sc = this.shortcut(x, pre, block.shortcut, opts.training);
    return sc ? (tf.add(out, sc) as tf.Tensor4D) : out;
  }

  apply(x: tf.Tensor4D, opts: ApplyOptions): tf.Tensor2D {
    if (this.disposed) throw new Error('model used after dispose()');
    if (x.rank !== 4 || x.shape[3] !== this.input.channels) {
      throw new Error(`model expects NHWC input with ${this.input.channels} channels; received shape [${x.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const net = this.net;
      let h = this.bn(this.conv(x, net.stem.conv), net.stem.bn, opts.training, net.stem.relu);
      if (net.stem.maxPool) h = tf.maxPool(h, 3, 2, 1);
      // One scope per block: a block's intermediate tensors are freed when it ends, not when the whole net
      // does (what backpropagation needs is saved by the tape). Evaluation, which saves nothing, then
      // holds a block's tensors at a time instead of the whole network's.
      net.blocks.forEach((block, i) => {
        const input = h;
        h = tf.tidy(() => block.kind === 'preact' ? this.preActivationBlock(input, block, i, opts) : this.postActivationBlock(input, block, opts.training));
      });
      if (net.final) h = this.bn(h, net.final.bn, opts.training, true);
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
      return tf.add(tf.matMul(pooled, this.v('fc.weight')), this.v('fc.bias')) as tf.Tensor2D;
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.trainable.values()) v.dispose();
    for (const v of this.state.values()) v.dispose();
  }
}

/**
 * A fresh model for `spec` on images of `input` with `classes` outputs. Same spec and seed give the
 * same initial weights; variables are keyed `stem.conv.weight`, `stage2.block3.bn1.gamma`, `fc.weight`, ...
 */
export function buildModel(spec: ModelSpec, input: InputShape, classes: number, opts: BuildOptions): Model {
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`classes must be a positive integer; received ${classes}`);
  return new ResNet(networkLayout(spec, input.channels, classes), input, opts.seed);
}
