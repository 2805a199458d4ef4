"""The data order and augmentation draws of src/data/rng.ts and src/data/batches.ts, bit for bit.

Everything random in ablate's data pipeline is a pure function of (seed, epoch, position): the epoch's
permutation comes from hashSeed(seed, epoch, 'order') and each sample's crop and flip from
hashSeed(seed, epoch, 'augment', position), both through mulberry32. All arithmetic is modulo 2**32, as
JavaScript's Math.imul, `|0` and `>>>` make it; numpy uint32 arrays wrap the same way.
"""
from __future__ import annotations

import numpy as np

M32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
STEP = 0x6D2B79F5

def fmix32(h: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser on uint32 arrays."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))

def _words(part) -> list[int]:
    if isinstance(part, str):
        return [len(part)] + [ord(c) for c in part]
    if isinstance(part, (int, np.integer)):
        v = int(part) & 0xFFFFFFFFFFFFFFFF
        return [v & M32, v >> 32]
    raise TypeError(f"hash_seed: parts are integers or strings; received {part!r}")

def _mix(h: np.ndarray, words) -> np.ndarray:
    for w in words:
        w = np.asarray(w, dtype=np.uint64)
        inner = fmix32(((w + np.uint64(GOLDEN)) & np.uint64(M32)).astype(np.uint32))
        h = fmix32((h ^ inner) + np.uint32(STEP))
    return fmix32(h + np.uint32(0x165667B1))

def hash_seed(*parts) -> int:
    """hashSeed(...parts) of src/data/rng.ts for integer and string parts."""
    with np.errstate(over="ignore"):
        h = np.array([GOLDEN], dtype=np.uint32)
        for part in parts:
            h = _mix(h, _words(part))
    return int(h[0])

def hash_seeds_last(prefix: tuple, last: np.ndarray) -> np.ndarray:
    """hash_seed(*prefix, x) for every non-negative integer x of `last` (below 2**32), vectorised."""
    with np.errstate(over="ignore"):
        h = np.array([GOLDEN], dtype=np.uint32)
        for part in prefix:
            h = _mix(h, _words(part))
        h = np.broadcast_to(h, last.shape).copy()
        return _mix(h, [last.astype(np.uint64), np.zeros(last.shape, dtype=np.uint64)])

def mulberry32(state: np.ndarray, k: int) -> np.ndarray:
    """The k-th output (1-based) of mulberry32 started at `state`, for uint32 arrays of states."""
    with np.errstate(over="ignore"):
        a = state.astype(np.uint32) + np.uint32((STEP * k) & M32)
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t = (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))) ^ t
        return t ^ (t >> np.uint32(14))

def permutation(n: int, seed: int) -> np.ndarray:
    """Fisher-Yates permutation of 0..n-1 as permutation(n, makeRng(seed)) draws it."""
    p = list(range(n))
    if n < 2:
        return np.array(p, dtype=np.int64)
    with np.errstate(over="ignore"):
        # mulberry32's state after k draws is seed + k * STEP: the whole stream at once.
        ks = np.arange(1, n, dtype=np.uint64)
        a = ((np.uint64(seed) + ks * np.uint64(STEP)) & np.uint64(M32)).astype(np.uint32)
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t = (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))) ^ t
        u = t ^ (t >> np.uint32(14))
    i = np.arange(n - 1, 0, -1, dtype=np.float64)
    js = np.floor((u.astype(np.float64) / 4294967296.0) * (i + 1)).astype(np.int64).tolist()
    for idx, j in zip(range(n - 1, 0, -1), js):
        p[idx], p[j] = p[j], p[idx]
    return np.array(p, dtype=np.int64)

def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return permutation(n, hash_seed(seed, epoch, "order"))

def augment_draws(seed: int, epoch: int, n: int, padding: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dy, dx, flip) for positions 0..n-1 of an epoch, as augmentDraw draws them."""
    states = hash_seeds_last((seed, epoch, "augment"), np.arange(n, dtype=np.uint64))
    span = 2 * padding + 1
    unit = lambda k: mulberry32(states, k).astype(np.float64) / 4294967296.0  # noqa: E731
    dy = np.floor(unit(1) * span).astype(np.int64)
    dx = np.floor(unit(2) * span).astype(np.int64)
    flip = unit(3) < 0.5
    return dy, dx, flip
