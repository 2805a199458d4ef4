/**
 * Mini-batches with the standard augmentation of He et al. 2016 §4.2 (pad, random crop,
 * horizontal flip). The order and every random choice are pure functions of (seed, epoch,
 * position in the epoch): there is no generator state to save, and resuming at epoch k yields
 * exactly the batches an uninterrupted run would have seen.
 */
import type {InputShape} from '../models/types';
import {hashSeed, makeRng, permutation} from './rng';

/** One split of a dataset, images NHWC and already normalised. */
export interface Split {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface Batch {
  /** NHWC, n images. Freshly allocated per batch: the consumer may keep it. */
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Visit the split in a permutation drawn from (seed, epoch); else in stored order. */
  shuffle: boolean;
  seed: number;
  epoch: number;
  /** Random crop after `crop_padding` zero pixels on each side, and left-right mirroring with probability 1/2. */
  augment?: {crop_padding: number; flip: boolean};
  /** Leave out a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
}

/** The visiting order of one epoch (identity when not shuffled). */
export function epochOrder(n: number, opts: {shuffle: boolean; seed: number; epoch: number}): Int32Array {
  if (!opts.shuffle) return Int32Array.from({length: n}, (_, i) => i);
  return permutation(n, makeRng(hashSeed(opts.seed, opts.epoch, 'order')));
}

/** The augmentation drawn for the sample at `position` of an epoch. */
export function augmentDraw(seed: number, epoch: number, position: number, padding: number): {dy: number; dx: number; flip: boolean} {
  const rng = makeRng(hashSeed(seed, epoch, 'augment', position));
  const dy = rng.int(2 * padding + 1);
  const dx = rng.int(2 * padding + 1);
  return {dy, dx, flip: rng.next() < 0.5};
}

/**
 * Copies image `src` (HWC at `srcOff`) into `dst` at `dstOff`: the crop of the image padded by
 * `padding` zeros whose top-left corner is (dy, dx) in padded coordinates, then mirrored if
 * `flip`. Zero is zero of the network input, i.e. the channel mean after normalisation, as in
 * fb.resnet.torch's CIFAR pipeline (normalise, then pad and crop).
 */
export function cropFlip(
  src: Float32Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  shape: InputShape,
  padding: number,
  dy: number,
  dx: number,
  flip: boolean,
): void {
  const {height: h, width: w, channels: c} = shape;
  for (let y = 0; y < h; y++) {
    const sy = y + dy - padding;
    const rowOut = dstOff + y * w * c;
    if (sy < 0 || sy >= h) {
      dst.fill(0, rowOut, rowOut + w * c);
      continue;
    }
    const rowIn = srcOff + sy * w * c;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + dx - padding;
      const o = rowOut + x * c;
      if (sx < 0 || sx >= w) {
        for (let ch = 0; ch < c; ch++) dst[o + ch] = 0;
      } else {
        const i = rowIn + sx * c;
        for (let ch = 0; ch < c; ch++) dst[o + ch] = src[i + ch];
      }
    }
  }
}

/**
 * Yields the batches of one epoch. Deterministic from (seed, epoch) alone; see the file comment.
 * Cropping happens before mirroring; with `flip` the mirrored crop is the crop of the mirrored
 * image taken at the mirrored offset, so the two orders give the same distribution.
 */
export function* batches(split: Split, shape: InputShape, opts: BatchOptions): Generator<Batch> {
  const {batchSize, seed, epoch} = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batches: batchSize must be a positive integer; received ${batchSize}`);
  const px = shape.height * shape.width * shape.channels;
  if (split.x.length !== split.n * px || split.y.length !== split.n) {
    throw new RangeError(
      `batches: split holds ${split.x.length} values and ${split.y.length} labels, expected ${split.n} images of ${shape.height}x${shape.width}x${shape.channels}`,
    );
  }
  const order = epochOrder(split.n, opts);
  const padding = opts.augment?.crop_padding ?? 0;
  const flipOn = opts.augment?.flip ?? false;
  const augmenting = padding > 0 || flipOn;
  for (let start = 0; start < split.n; start += batchSize) {
    const n = Math.min(batchSize, split.n - start);
    if (n < batchSize && opts.dropLast) return;
    const x = new Float32Array(n * px);
    const y = new Int32Array(n);
    for (let b = 0; b < n; b++) {
      const pos = start + b;
      const idx = order[pos];
      y[b] = split.y[idx];
      if (!augmenting) {
        x.set(split.x.subarray(idx * px, (idx + 1) * px), b * px);
      } else {
        const d = augmentDraw(seed, epoch, pos, padding);
        cropFlip(split.x, idx * px, x, b * px, shape, padding, d.dy, d.dx, flipOn && d.flip);
      }
    }
    yield {x, y, n};
  }
}
