/**
 * One trial: build the data and the network, train with an explicit loop (tf.variableGrads + SGD), evaluate
 * every epoch, checkpoint, and report events. Runs inside a worker (thread or child process); it never
 * touches the database — the coordinator writes what it emits.
 */
import {setImmediate as nextTurn} from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import {batches, hashSeed, loadDataset, type Dataset} from '../data';
import {initEngine, releaseEngineMemory, type EngineInfo, type EngineName} from '../engine';
import type {Precision} from '../engine/precision';
import {buildModel, resolveModelSpec} from '../models';
import type {Model} from '../models/types';
import type {EpochRow} from '../store/store';
import {loadCheckpoint, saveCheckpoint, type CheckpointIdentity, type CheckpointState, type PartialEpoch} from './checkpoint';
import {Sgd} from './optimizer';
import {learningRate} from './schedule';
import type {TrialSpec} from './sweep';
import {now, traceSpan, traced, tracedAsync} from '../trace';

export type TrialEvent =
  | {type: 'engine'; engine: EngineInfo; pid: number; device: string | null}
  | {type: 'progress'; epoch: number; step: number; steps: number; loss: number; imagesPerSec: number}
  | {type: 'epoch'; row: EpochRow}
  /** What a worker process wrote to stderr, kept in the trial's record. */
  | {type: 'log'; message: string}
  /** A checkpoint at the trial's place that is not its own (another store, sweep or trial): not resumed from. */
  | {type: 'checkpoint-ignored'; file: string; reason: string}
  /** The trial continues from its checkpoint: `epoch` epochs and `step` steps of the next were done. */
  | {type: 'resumed'; epoch: number; step: number};

export interface TrialOutcome {
  /** stopped: interrupted on request after a checkpoint; the trial is resumable. */
  status: 'done' | 'diverged' | 'stopped';
  epochs: number;
  error?: string;
  /** Engines on a GPU: the trial's peak GPU memory (MiB). */
  peakDeviceMemoryMb?: number;
}

export interface RunTrialOptions {
  engine: EngineName;
  threads: number;
  /** native-cpu: choose kernels by timing them (resources.autotune); off, runs are bit-for-bit repeatable. */
  autotune?: boolean;
  /** Where this trial's checkpoint lives; no checkpoints when absent. */
  checkpointFile?: string;
  /** The trial the checkpoint must belong to; written into it, and checked before resuming from one. */
  checkpointIdentity?: CheckpointIdentity;
  /** Folder a relative `dataset.path` is resolved against (the study file's folder). */
  dataDir?: string;
  /**
   * Polled after every step: true asks the trial to checkpoint and return `stopped` (experiments/stop.ts).
   * The trial yields to the event loop before each poll, so messages and signals that set it are seen.
   */
  shouldStop?: () => boolean;
  emit: (event: TrialEvent) => void;
  /** The trial's dataset, already loaded (the thread executor shares one copy between its threads); else loaded here. */
  data?: Dataset;
  /** Minimum milliseconds between progress events. */
  progressEveryMs?: number;
}

let engineReady: {name: EngineName; threads: number; autotune: boolean; precision: Precision; info: Promise<EngineInfo>} | undefined;

/** Initialise the engine once per worker (a worker runs many trials); again when a trial needs other settings. */
export function ensureEngine(name: EngineName, threads: number, autotune = false, precision: Precision = 'fp32'): Promise<EngineInfo> {
  let r = engineReady;
  if (!r || r.name !== name || r.threads !== threads || r.autotune !== autotune || r.precision !== precision) {
    r = engineReady = {name, threads, autotune, precision, info: initEngine(name, threads, {autotune, precision})};
  }
  return r.info;
}

export async function runTrial(spec: TrialSpec, opts: RunTrialOptions): Promise<TrialOutcome> {
  const engine = await tracedAsync('engine-init', () => ensureEngine(opts.engine, opts.threads, opts.autotune ?? false, spec.train.precision ?? 'fp32'));
  opts.emit({type: 'engine', engine, pid: process.pid, device: process.env.CUDA_VISIBLE_DEVICES ?? null});

  const data = opts.data ?? traced('data', () => loadDataset(spec.dataset, {baseDir: opts.dataDir}));
  const model = traced('model-build', () => trialModel(spec, data));
  const {train} = spec;
  const sgd = new Sgd(model.trainable, {
    momentum: train.optimizer.momentum,
    weightDecay: train.optimizer.weight_decay,
    nesterov: train.optimizer.nesterov,
  });
  try {
    return await trainLoop(spec, opts, data, model, sgd);
  } finally {
    sgd.dispose();
    model.dispose();
    await tracedAsync('release', () => releaseEngineMemory(engine.name));
  }
}

/**
 * The trial's network at initialisation: every initialiser is seeded from the trial's seed (and the layer's
 * position), so cells of a sweep that share a seed and an architecture start from the same weights.
 */
export function trialModel(spec: TrialSpec, data: Dataset): Model {
  return buildModel(resolveModelSpec(spec.model), data.shape, data.classes, {seed: spec.seed});
}

/** Batch size and steps of a trial's epochs. */
export function epochShape(spec: TrialSpec, data: Dataset): {batchSize: number; dropLast: boolean; steps: number} {
  const batchSize = Math.min(spec.train.batch_size, data.train.n);
  // A last batch of one image would give batch norm a zero variance; drop it then (and only then).
  const dropLast = data.train.n % batchSize === 1;
  const steps = dropLast ? Math.floor(data.train.n / batchSize) : Math.ceil(data.train.n / batchSize);
  return {batchSize, dropLast, steps};
}

/**
 * The training batches of one epoch. The order of the images and their augmentation are functions of the
 * trial's seed and the epoch alone (data/batches.ts): cells of a sweep that share a seed see the same
 * images in the same order with the same crops and flips, whatever else they vary (depth, width, learning
 * rate, batch size), so their differences are the swept axis's and not the data's.
 */
export function trainBatches(spec: TrialSpec, data: Dataset, epoch: number) {
  const {batchSize, dropLast} = epochShape(spec, data);
  return batches(data.train, data.shape, {batchSize, shuffle: true, seed: spec.seed, epoch, augment: spec.dataset.augment, dropLast});
}

async function trainLoop(spec: TrialSpec, opts: RunTrialOptions, data: Dataset, model: Model, sgd: Sgd): Promise<TrialOutcome> {
  const {train} = spec;
  const {height, width, channels} = data.shape;
  const {batchSize, steps} = epochShape(spec, data);
  const vars = [...model.trainable.values()];
  const keyOf = new Map([...model.trainable].map(([k, v]) => [v.name, k]));

  let resume: CheckpointState | undefined;
  if (opts.checkpointFile) {
    const found = loadCheckpoint(opts.checkpointFile, opts.checkpointIdentity);
    if (found.ignored) opts.emit({type: 'checkpoint-ignored', file: opts.checkpointFile, reason: found.ignored});
    resume = found.state;
  }
  if (resume) {
    restoreState(resume, model, sgd);
    opts.emit({type: 'resumed', epoch: resume.epoch, step: resume.step});
  }
  const history: EpochRow[] = resume?.history.slice() ?? [];
  // Replay what the checkpoint knows, so the store has every epoch row even if the last write was lost.
  for (const row of history) opts.emit({type: 'epoch', row});

  const checkpoint = (epoch: number, step: number, partial?: PartialEpoch) => {
    if (!opts.checkpointFile) return;
    traced('checkpoint', () => saveCheckpoint(opts.checkpointFile!, {identity: opts.checkpointIdentity, epoch, step, partial, history, tensors: snapshot(model, sgd)}));
  };

  let lastProgress = 0;
  for (let epoch = resume?.epoch ?? 0; epoch < train.epochs; epoch++) {
    const startStep = resume && epoch === resume.epoch ? resume.step : 0;
    const acc: PartialEpoch = startStep > 0 && resume?.partial ? {...resume.partial} : {lossSum: 0, errSum: 0, seen: 0, seconds: 0};
    let lr = learningRate(train, epoch);
    let step = 0;
    let t0 = performance.now();
    for (const batch of trainBatches(spec, data, epoch)) {
      if (step < startStep) {
        step++;
        continue;
      }
      lr = learningRate(train, epoch + step / steps);
      const {loss, wrong} = trainStep(model, sgd, vars, keyOf, batch, [height, width, channels], data.classes, lr, hashSeed(spec.seed, epoch, step));
      step++;
      if (!Number.isFinite(loss)) {
        acc.seconds += (performance.now() - t0) / 1000;
        history.push({epoch: epoch + 1, train_loss: null, train_err: null, test_loss: null, test_err: null, lr, seconds: acc.seconds, images_per_sec: null});
        opts.emit({type: 'epoch', row: history[history.length - 1]});
        return {status: 'diverged', epochs: epoch + 1, error: `loss became ${loss} at epoch ${epoch + 1}, step ${step}`};
      }
      acc.lossSum += loss * batch.n;
      acc.errSum += wrong;
      acc.seen += batch.n;
      const now = performance.now();
      if (now - lastProgress > (opts.progressEveryMs ?? 1000)) {
        lastProgress = now;
        opts.emit({type: 'progress', epoch: epoch + 1, step, steps, loss, imagesPerSec: acc.seen / (acc.seconds + (now - t0) / 1000)});
      }
      // Let the event loop deliver what arrived during the step (a stop message, a signal).
      await nextTurn();
      if (step < steps && opts.shouldStop?.()) {
        acc.seconds += (performance.now() - t0) / 1000;
        checkpoint(epoch, step, acc);
        return {status: 'stopped', epochs: epoch};
      }
    }
    acc.seconds += (performance.now() - t0) / 1000;
    traceSpan('train', now() - (performance.now() - t0), {epoch: epoch + 1});
    const test = traced('eval', () => evaluate(model, data.test, data.shape, data.classes, batchSize), {epoch: epoch + 1});
    const row: EpochRow = {
      epoch: epoch + 1,
      train_loss: acc.lossSum / acc.seen,
      train_err: acc.errSum / acc.seen,
      test_loss: test.loss,
      test_err: test.err,
      lr,
      seconds: acc.seconds,
      images_per_sec: acc.seen / acc.seconds,
    };
    history.push(row);
    const last = epoch + 1 === train.epochs;
    await nextTurn();
    const stop = !last && !!opts.shouldStop?.();
    if (last || stop || (train.checkpoint_every > 0 && (epoch + 1) % train.checkpoint_every === 0)) checkpoint(epoch + 1, 0);
    opts.emit({type: 'epoch', row});
    if (!Number.isFinite(test.loss)) return {status: 'diverged', epochs: epoch + 1, error: `test loss became ${test.loss} at epoch ${epoch + 1}`};
    if (stop) return {status: 'stopped', epochs: epoch + 1};
    t0 = performance.now();
  }
  return {status: 'done', epochs: train.epochs};
}

function trainStep(
  model: Model, sgd: Sgd, vars: tf.Variable[], keyOf: Map<string, string>,
  batch: {x: Float32Array; y: Int32Array; n: number}, hwc: [number, number, number], classes: number, lr: number, seed: number,
): {loss: number; wrong: number} {
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.x, [batch.n, ...hwc]);
    const labels = tf.tensor1d(batch.y, 'int32');
    let wrong: tf.Scalar | undefined;
    const {value, grads} = tf.variableGrads(() => {
      const logits = model.apply(x, {training: true, seed});
      wrong = tf.keep(countWrong(logits, labels));
      return crossEntropy(logits, labels, classes);
    }, vars);
    const loss = value.dataSync()[0];
    const wrongCount = wrong!.dataSync()[0];
    wrong!.dispose();
    if (Number.isFinite(loss)) sgd.step(new Map(Object.entries(grads).map(([name, g]) => [keyOf.get(name) ?? name, g])), lr);
    return {loss, wrong: wrongCount};
  });
}

function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classes: number): tf.Scalar {
  const oneHot = tf.oneHot(labels, classes);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

function countWrong(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar;
}

function evaluate(model: Model, split: Dataset['test'], shape: Dataset['shape'], classes: number, batchSize: number): {loss: number; err: number} {
  let lossSum = 0;
  let wrong = 0;
  let seen = 0;
  for (const batch of batches(split, shape, {batchSize, shuffle: false, seed: 0, epoch: 0})) {
    tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.n, shape.height, shape.width, shape.channels]);
      const labels = tf.tensor1d(batch.y, 'int32');
      const logits = model.apply(x, {training: false});
      lossSum += crossEntropy(logits, labels, classes).dataSync()[0] * batch.n;
      wrong += countWrong(logits, labels).dataSync()[0];
      seen += batch.n;
    });
  }
  return {loss: lossSum / seen, err: wrong / seen};
}

function snapshot(model: Model, sgd: Sgd): CheckpointState['tensors'] {
  const out: CheckpointState['tensors'] = new Map();
  const add = (prefix: string, vars: Map<string, tf.Variable>) => {
    for (const [name, v] of vars) out.set(prefix + name, {shape: v.shape, data: v.dataSync() as Float32Array});
  };
  add('param/', model.trainable);
  add('state/', model.state);
  add('momentum/', sgd.velocity);
  return out;
}

function restoreState(ckpt: CheckpointState, model: Model, sgd: Sgd): void {
  const load = (prefix: string, vars: Map<string, tf.Variable>) => {
    for (const [name, v] of vars) {
      const t = ckpt.tensors.get(prefix + name);
      if (!t || t.shape.join('x') !== v.shape.join('x')) {
        throw new Error(`checkpoint does not match the model: ${prefix + name} ${t ? `has shape ${t.shape.join('x')}, expected ${v.shape.join('x')}` : 'is missing'}`);
      }
      v.assign(tf.tensor(t.data, t.shape));
    }
  };
  tf.tidy(() => {
    load('param/', model.trainable);
    load('state/', model.state);
    load('momentum/', sgd.velocity);
  });
}

/** Final weights of a finished trial, read back from its checkpoint (for tests and exports). */
export function checkpointWeights(file: string): Map<string, Float32Array> | undefined {
  const ckpt = loadCheckpoint(file).state;
  if (!ckpt) return undefined;
  return new Map([...ckpt.tensors].map(([k, t]) => [k, t.data]));
}
