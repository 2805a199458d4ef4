/**
 * Small, fast, seeded pseudo-random numbers. Everything random in the data pipeline is derived
 * from explicit seeds through `hashSeed`, so a result never depends on hidden generator state:
 * resuming a trial at epoch k reproduces exactly what an uninterrupted run would have done.
 *
 * The generator is mulberry32 (32-bit state, period 2^32): plenty for shuffles, crops and
 * synthetic images, and its whole state is one number that fits in a checkpoint.
 */
import {hashSeed} from '../seed';

export {hashSeed};

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform integer in [0, n), n >= 1. */
  int(n: number): number;
  /** Standard normal (Box-Muller; one value per call, the pair's second half is discarded). */
  normal(): number;
  /** The generator's whole state: `makeRng(0).setState(r.state())` continues where r is. */
  state(): number;
  setState(state: number): void;
}

/** A fresh generator. Any number is accepted as a seed (hashed to 32 bits first). */
export function makeRng(seed: number): Rng {
  let a = Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32 ? seed >>> 0 : hashSeed(seed);
  const uint32 = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = (): number => uint32() / 4294967296;
  return {
    next,
    uint32,
    int(n: number): number {
      if (!(n >= 1)) throw new RangeError(`Rng.int: n must be >= 1; received ${n}`);
      // Multiply-shift on a float in [0,1): bias below 2^-32 * n, irrelevant at our sizes.
      return Math.floor(next() * n);
    },
    normal(): number {
      let u = next();
      while (u === 0) u = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    state: () => a >>> 0,
    setState(s: number): void {
      a = s | 0;
    },
  };
}

/** Fisher-Yates permutation of 0..n-1 drawn from `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
