/**
 * Output buffers of the native kernels.
 *
 * A fresh Float32Array of a few megabytes costs more than the memory-bound kernel that fills it: its
 * pages are mapped and zeroed on first touch (about 10 ms for 8 MB against 1 ms for the kernel). The
 * native kernels therefore take their outputs from a pool that the cpu backend refills when it
 * disposes a tensor the pool handed out. A buffer is recycled only when nothing else can still see
 * it: buffers read out of the backend (dataSync, data, arraySync) and buffers that other kernels
 * turn into views (contiguous slices, unstack, split) are pinned and left to the garbage collector.
 */
import * as tf from '@tensorflow/tfjs-core';

const POOL_MAX_BYTES = Number(process.env.ABLATE_NATIVE_POOL_MB ?? 1024) * 2 ** 20;

export class BufferPool {
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

/** The pool of this JavaScript context (each worker thread has its own). */
export const pool = new BufferPool();

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
export const VIEW_MAKERS = ['BatchToSpaceND', 'SplitV', 'StridedSlice', 'Unpack'];

/**
 * Patches the cpu backend so that disposed tensors give their buffers back to the pool and buffers read out
 * of it are pinned; returns the undo.
 */
export function hookBackend(): () => void {
  const backend = tf.findBackend('cpu') as unknown as CpuBackendData | undefined;
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
