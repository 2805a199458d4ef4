/**
 * An embedded, deterministic, learnable image-classification set of any shape and class count.
 *
 * Each class has a smooth random prototype: a 4x4 and an 8x8 grid of normal values per channel,
 * bilinearly upsampled to the image size (so 1000 classes at 224x224x3 cost 240k floats, not
 * 150M). A sample is its class prototype with a random gain, shifted by up to a quarter of the
 * image, mixed with a (usually weaker) prototype of another class, plus pixel noise. Shift and distractor make a template
 * match imperfect while a small convolutional net can learn the classes; noise and the distractor
 * keep the error floor above zero, so short runs give differing, non-trivial errors. (A nearest
 * class-mean classifier on raw pixels scores about 60-85% on 10 classes, 78% on 4 classes at 8x8x3.)
 *
 * Everything derives from a fixed data seed (never the trial seed), so every trial sees the same
 * images; sample i of a split does not depend on the split size, so `train_size: 256` is the
 * first 256 samples of `train_size: 1024`.
 */
import type {InputShape} from '../models/types';
import {hashSeed, makeRng, permutation, type Rng} from './rng';

/** Fixed seed of the synthetic data (the year and month of He et al.'s CVPR talk). */
export const SYNTHETIC_DATA_SEED = 201606;

const COARSE = 4;
const FINE = 8;
const FINE_WEIGHT = 0.5;
const GAIN_MIN = 0.7;
const GAIN_MAX = 1.3;
const DISTRACTOR_MAX = 0.8;
const NOISE = 1.5;

interface Prototypes {
  classes: number;
  channels: number;
  coarse: Float32Array; // [classes][COARSE][COARSE][channels]
  fine: Float32Array; // [classes][FINE][FINE][channels]
}

const protoCache = new Map<string, Prototypes>();

function prototypes(classes: number, channels: number): Prototypes {
  const key = `${classes}:${channels}`;
  let p = protoCache.get(key);
  if (!p) {
    const rng = makeRng(hashSeed(SYNTHETIC_DATA_SEED, 'prototypes', classes, channels));
    const coarse = new Float32Array(classes * COARSE * COARSE * channels);
    const fine = new Float32Array(classes * FINE * FINE * channels);
    for (let i = 0; i < coarse.length; i++) coarse[i] = rng.normal();
    for (let i = 0; i < fine.length; i++) fine[i] = FINE_WEIGHT * rng.normal();
    p = {classes, channels, coarse, fine};
    protoCache.set(key, p);
  }
  return p;
}

/** Bilinear sampling positions of one image axis into a grid of `g` cells, shifted by `shift` pixels. */
interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  f: Float32Array;
}

const axisCache = new Map<string, Axis>();

function axis(size: number, g: number, shift: number): Axis {
  const key = `${size}:${g}:${shift}`;
  let a = axisCache.get(key);
  if (!a) axisCache.set(key, (a = axisOf(size, g, shift)));
  return a;
}

function axisOf(size: number, g: number, shift: number): Axis {
  const i0 = new Int32Array(size);
  const i1 = new Int32Array(size);
  const f = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    // Pixel centres mapped onto grid-cell centres; clamped at the borders (edge replication).
    let u = ((i - shift + 0.5) / size) * g - 0.5;
    u = Math.min(Math.max(u, 0), g - 1);
    const a = Math.floor(u);
    i0[i] = a;
    i1[i] = Math.min(a + 1, g - 1);
    f[i] = u - a;
  }
  return {i0, i1, f};
}

/** Adds `weight` x (prototype of `cls`, shifted) to `out` (one HWC image starting at `off`). */
function addPrototype(out: Float32Array, off: number, shape: InputShape, p: Prototypes, cls: number, weight: number, dy: number, dx: number): void {
  const {height: h, width: w, channels: c} = shape;
  for (const [grid, g] of [[p.coarse, COARSE], [p.fine, FINE]] as const) {
    const base = cls * g * g * c;
    const ry = axis(h, g, dy);
    const rx = axis(w, g, dx);
    for (let y = 0; y < h; y++) {
      const r0 = base + ry.i0[y] * g * c;
      const r1 = base + ry.i1[y] * g * c;
      const fy = ry.f[y];
      for (let x = 0; x < w; x++) {
        const c0 = rx.i0[x] * c;
        const c1 = rx.i1[x] * c;
        const fx = rx.f[x];
        const o = off + (y * w + x) * c;
        for (let ch = 0; ch < c; ch++) {
          const top = grid[r0 + c0 + ch] * (1 - fx) + grid[r0 + c1 + ch] * fx;
          const bottom = grid[r1 + c0 + ch] * (1 - fx) + grid[r1 + c1 + ch] * fx;
          out[o + ch] += weight * (top * (1 - fy) + bottom * fy);
        }
      }
    }
  }
}

function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

/**
 * Label of sample i: classes are dealt in blocks of `classes` consecutive samples, each block a
 * fresh permutation, so every prefix is class-balanced to within one sample per class.
 */
function labelOf(split: string, classes: number, i: number, cache: {block: number; perm: Int32Array | null}): number {
  const block = Math.floor(i / classes);
  if (cache.block !== block || !cache.perm) {
    cache.perm = permutation(classes, makeRng(hashSeed(SYNTHETIC_DATA_SEED, 'labels', split, classes, block)));
    cache.block = block;
  }
  return cache.perm[i % classes];
}

export interface RawSplit {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/**
 * The first `n` samples of the synthetic `split` for this image shape and class count (NHWC, not normalised).
 * `alloc` provides the zero-filled image array (e.g. one in shared memory).
 */
export function syntheticSplit(
  shape: InputShape, classes: number, split: 'train' | 'test', n: number,
  alloc: (length: number) => Float32Array = (length) => new Float32Array(length),
): RawSplit {
  const {height: h, width: w, channels: c} = shape;
  const px = h * w * c;
  const p = prototypes(classes, c);
  const x = alloc(n * px);
  const y = new Int32Array(n);
  const maxShift = Math.max(1, Math.round(Math.min(h, w) / 4));
  const labels = {block: -1, perm: null as Int32Array | null};
  for (let i = 0; i < n; i++) {
    const label = labelOf(split, classes, i, labels);
    y[i] = label;
    const rng = makeRng(hashSeed(SYNTHETIC_DATA_SEED, 'sample', split, h, w, c, classes, i));
    const dy = rng.int(2 * maxShift + 1) - maxShift;
    const dx = rng.int(2 * maxShift + 1) - maxShift;
    const gain = uniform(rng, GAIN_MIN, GAIN_MAX);
    const other = (label + 1 + rng.int(classes - 1)) % classes;
    const mix = uniform(rng, 0, DISTRACTOR_MAX);
    const off = i * px;
    addPrototype(x, off, shape, p, label, gain, dy, dx);
    addPrototype(x, off, shape, p, other, mix, dy, dx);
    // Gaussian pixel noise, both halves of each Box-Muller pair (half the logs and roots).
    for (let k = 0; k < px; k += 2) {
      const r = NOISE * Math.sqrt(-2 * Math.log(1 - rng.next()));
      const t = 2 * Math.PI * rng.next();
      x[off + k] += r * Math.cos(t);
      if (k + 1 < px) x[off + k + 1] += r * Math.sin(t);
    }
  }
  return {x, y, n};
}
