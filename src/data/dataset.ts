/**
 * loadDataset: the validated `dataset:` section -> normalised NHWC train and test splits.
 * Synchronous: files are read with readFileSync and gunzipSync (a worker loads once, then trains
 * for minutes; nothing else runs on its thread meanwhile).
 *
 * Decompressed files are cached per process by absolute path, and finished datasets (up to 1 GiB)
 * by their resolved config, because one worker runs many trials on the same data. The arrays of a
 * returned Dataset are shared between callers: read them, never write them.
 *
 * With `shared: true` the finished arrays live in SharedArrayBuffers: posting such a Dataset to a worker
 * thread hands it the same memory instead of a copy, so a process holds one copy of a dataset however
 * many worker threads train on it (the thread executor loads it once, on the main thread).
 */
import * as path from 'node:path';
import {EnvironmentError} from '../errors';
import type {InputShape} from '../models/types';
import type {Split} from './batches';
import {FASHION_MNIST_DEFAULT_PATH, datasetInfo, parseDatasetConfig, type DatasetConfig, type DatasetConfigInput, type DatasetName} from './config';
import {loadCifarDataset, locateCifar} from './cifar';
import {clearFileCache} from './files';
import {loadIdxDataset, locateIdx} from './idx';
import {syntheticSplit} from './synthetic';
import type {RawDataset, RawImages} from './types';

export interface Dataset {
  name: DatasetName;
  shape: InputShape;
  classes: number;
  train: Split;
  test: Split;
  /**
   * Per-channel statistics of the training split that were used to normalise both splits:
   * x = (pixel - mean) / std, with pixel in [0, 1] for image files and raw values for synthetic
   * data. mean 0 and std 1 when `normalize: false`.
   */
  mean: number[];
  std: number[];
}

export interface LoadOptions {
  /** Folder that a relative `dataset.path` is resolved against (default: the working directory). */
  baseDir?: string;
  /** Keep the finished splits in SharedArrayBuffers, to be posted to worker threads without copying. */
  shared?: boolean;
}

/** Whether every array of `d` lives in shared memory (posting it to a worker thread copies nothing). */
export function isShared(d: Dataset): boolean {
  return [d.train.x, d.train.y, d.test.x, d.test.y].every((a) => a.buffer instanceof SharedArrayBuffer);
}

/** Finished datasets by resolved config, newest last; bounded by their total size. */
const datasetCache = new Map<string, Dataset>();
const DATASET_CACHE_BYTES = 2 ** 30;

/** Forgets every cached file and dataset (tests; or to free memory between studies). */
export function clearDatasetCache(): void {
  datasetCache.clear();
  clearFileCache();
}

function datasetBytes(d: Dataset): number {
  return d.train.x.byteLength + d.test.x.byteLength + d.train.y.byteLength + d.test.y.byteLength;
}

function remember(key: string, ds: Dataset): void {
  datasetCache.set(key, ds);
  let total = 0;
  for (const d of datasetCache.values()) total += datasetBytes(d);
  // Evict the oldest entries while over budget, always keeping the one just added.
  for (const [k, d] of datasetCache) {
    if (total <= DATASET_CACHE_BYTES || k === key) break;
    datasetCache.delete(k);
    total -= datasetBytes(d);
  }
}

/** The folder or file that `cfg.path` names, made absolute. */
export function resolveDatasetPath(cfg: DatasetConfig, opts: LoadOptions = {}): string | undefined {
  if (cfg.name === 'synthetic') return undefined;
  const p = cfg.path ?? (cfg.name === 'fashion-mnist' ? FASHION_MNIST_DEFAULT_PATH : undefined);
  return p === undefined ? undefined : path.resolve(opts.baseDir ?? process.cwd(), p);
}

function channelStats(x: Uint8Array | Float32Array, channels: number, scale: number): {mean: number[]; std: number[]} {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const len = x.length;
  for (let i = 0; i < len; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = x[i + c] * scale;
      sum[c] += v;
      sq[c] += v * v;
    }
  }
  const count = len / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    const m = count > 0 ? sum[c] / count : 0;
    const variance = count > 0 ? Math.max(0, sq[c] / count - m * m) : 0;
    mean.push(m);
    // A constant channel (e.g. a blank test fixture) is only centred, not divided by zero.
    std.push(variance > 1e-12 ? Math.sqrt(variance) : 1);
  }
  return {mean, std};
}

function float32s(n: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
}

/**
 * First `n` images of `raw`, as floats: (value * scale - mean[c]) / std[c]. With `inPlace`, a float array of
 * exactly n images (freshly generated, owned by nobody else) is normalised where it lies instead of copied.
 */
function toSplit(raw: RawImages, n: number, shape: InputShape, scale: number, mean: number[], std: number[], shared: boolean, inPlace: boolean): Split {
  const px = shape.height * shape.width * shape.channels;
  const c = shape.channels;
  const x = inPlace && raw.x instanceof Float32Array && raw.x.length === n * px ? raw.x : float32s(n * px, shared);
  const src = raw.x;
  const mul = std.map((s) => scale / s);
  const add = mean.map((m, i) => -m / std[i]);
  for (let i = 0; i < n * px; i += c) {
    for (let ch = 0; ch < c; ch++) x[i + ch] = src[i + ch] * mul[ch] + add[ch];
  }
  const y = shared ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n);
  y.set(raw.y.subarray(0, n));
  return {x, y, n};
}

function rawDataset(cfg: DatasetConfig, opts: LoadOptions): RawDataset {
  if (cfg.name === 'synthetic') {
    const info = datasetInfo(cfg);
    // Generated straight into the memory the finished split will use (normalised in place, see toSplit).
    const alloc = (length: number) => float32s(length, !!opts.shared);
    return {
      shape: info.shape,
      classes: info.classes,
      train: syntheticSplit(info.shape, info.classes, 'train', info.trainSize, alloc),
      test: syntheticSplit(info.shape, info.classes, 'test', info.testSize, alloc),
    };
  }
  const dir = resolveDatasetPath(cfg, opts)!;
  switch (cfg.name) {
    case 'fashion-mnist':
    case 'mnist':
      return loadIdxDataset({...cfg, name: cfg.name}, dir);
    case 'cifar10':
    case 'cifar100':
      return loadCifarDataset({...cfg, name: cfg.name}, dir);
  }
}

/**
 * Checks, without reading them, that the files a dataset needs exist: a cheap test for the
 * coordinator to run once before starting trials, so that missing data is one clear error
 * instead of one failed trial per cell. Throws the same EnvironmentErrors as loadDataset.
 * Corrupt contents are only found by loadDataset.
 */
export function checkDatasetFiles(input: DatasetConfigInput | DatasetConfig, opts: LoadOptions = {}): void {
  const cfg = parseDatasetConfig(input);
  const p = resolveDatasetPath(cfg, opts);
  if (cfg.name === 'fashion-mnist' || cfg.name === 'mnist') locateIdx(cfg.name, p!);
  else if (cfg.name === 'cifar10' || cfg.name === 'cifar100') locateCifar(cfg.name, p!);
}

/**
 * Loads (or takes from the cache) the dataset of a `dataset:` section: the first train_size /
 * test_size images of each split, NHWC, normalised per channel with the training split's
 * statistics when `normalize` is on. Throws UsageError for an invalid section and
 * EnvironmentError for missing or corrupt files.
 */
export function loadDataset(input: DatasetConfigInput | DatasetConfig, opts: LoadOptions = {}): Dataset {
  const cfg = parseDatasetConfig(input);
  // augment changes batches, not the data: leave it out of the cache key.
  const {augment: _augment, ...dataPart} = cfg;
  const key = JSON.stringify({...dataPart, path: resolveDatasetPath(cfg, opts)});
  const hit = datasetCache.get(key);
  if (hit && (!opts.shared || isShared(hit))) {
    datasetCache.delete(key);
    datasetCache.set(key, hit);
    return hit;
  }
  const raw = rawDataset(cfg, opts);
  for (const [split, want] of [['train', cfg.train_size], ['test', cfg.test_size]] as const) {
    const have = raw[split].n;
    if (want !== undefined && want > have) {
      throw new EnvironmentError(`${cfg.name}: the ${split} split in ${resolveDatasetPath(cfg, opts) ?? 'memory'} holds ${have} images, fewer than dataset.${split}_size=${want}`, {
        hint: `lower dataset.${split}_size to at most ${have}, or point dataset.path at the complete files`,
      });
    }
  }
  const nTrain = cfg.train_size ?? raw.train.n;
  const nTest = cfg.test_size ?? raw.test.n;
  const c = raw.shape.channels;
  const scale = raw.train.x instanceof Uint8Array ? 1 / 255 : 1;
  const trainPart = raw.train.x.subarray(0, nTrain * raw.shape.height * raw.shape.width * c);
  const stats = cfg.normalize ? channelStats(trainPart, c, scale) : {mean: new Array(c).fill(0), std: new Array(c).fill(1)};
  const ds: Dataset = {
    name: cfg.name,
    shape: raw.shape,
    classes: raw.classes,
    train: toSplit(raw.train, nTrain, raw.shape, scale, stats.mean, stats.std, !!opts.shared, cfg.name === 'synthetic'),
    test: toSplit(raw.test, nTest, raw.shape, scale, stats.mean, stats.std, !!opts.shared, cfg.name === 'synthetic'),
    mean: stats.mean,
    std: stats.std,
  };
  remember(key, ds);
  return ds;
}
