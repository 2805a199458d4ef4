/**
 * The one seed mixer of ablate: every derived seed (data order, augmentation, dropout masks, weight
 * initialisers, synthetic images) is `hashSeed` of the trial's seed and the names of what it seeds, so
 * a result never depends on hidden generator state. Below every other module: it imports nothing.
 */

const GOLDEN = 0x9e3779b9;
const TWO32 = 2 ** 32;

/** v mod 2^32 in [0, 2^32) for an integer v. */
function mod32(v: number): number {
  const r = v % TWO32;
  return r < 0 ? r + TWO32 : r;
}

/** murmur3's 32-bit finaliser: a bijection with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function words(part: number | string): number[] {
  if (typeof part === 'string') {
    const out: number[] = [part.length];
    for (let i = 0; i < part.length; i++) out.push(part.charCodeAt(i));
    return out;
  }
  if (!Number.isFinite(part)) throw new RangeError(`hashSeed: parts must be finite numbers; received ${part}`);
  if (Number.isInteger(part) && Math.abs(part) <= Number.MAX_SAFE_INTEGER) {
    // Both 32-bit halves of the two's complement, so seeds beyond 2^32 (and negative ones) stay distinct:
    // part mod 2^32 and floor(part / 2^32) mod 2^32, exact in doubles for safe integers (and without BigInt,
    // which cost ~50 us a call here; hashSeed runs once per image per epoch for augmentation).
    return [mod32(part), mod32(Math.floor(part / TWO32))];
  }
  const f = new Float64Array([part]);
  const u = new Uint32Array(f.buffer);
  return [u[0], u[1], 0x7ff];
}

/**
 * Derives a 32-bit seed from any list of numbers and strings, e.g.
 * `hashSeed(trialSeed, epoch, 'crop', index)`. Order matters; equal lists give equal seeds.
 */
export function hashSeed(...parts: Array<number | string>): number {
  let h = GOLDEN;
  for (const part of parts) {
    for (const w of words(part)) h = fmix32((h ^ fmix32((w + GOLDEN) >>> 0)) + 0x6d2b79f5);
    h = fmix32(h + 0x165667b1);
  }
  return h;
}
