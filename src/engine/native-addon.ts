/**
 * Loading the native addon (native/, a Node-API module over oneDNN): where it is, the OpenMP wait policy
 * it should start with, and what it reports about itself. Loaded once per JavaScript context; the addon is
 * context-aware, so every worker thread gets its own primitive cache and thread count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Precision} from './precision';

/** The addon's JavaScript surface (native/src/addon.cc). */
export interface NativeAddon {
  info(): {
    dnnl: string; cpuRuntime: string; isa: string; threads: number; autotune: boolean;
    /** Whether oneDNN's ISA has bf16 instructions; the precision convolutions compute in. */
    bf16: boolean; precision: Precision;
    ompMaxThreads: number; convPrimitives: number; scratchpadBytes: number;
    /** Convolution primitives that run oneDNN's Winograd algorithm (fp32 3x3 stride-1 with >= 64 channels, >= 8x8 outputs). */
    winogradPrimitives: number;
    /** The convolution algorithms the kernels use, recorded with each trial (results depend on them). */
    convolutions: string;
    /** How matrix products (the classifier, BatchMatMul) are computed: oneDNN's sgemm. */
    matrixProducts: string;
  };
  setThreads(n: number): void;
  /** Time the candidate implementations of each new convolution and keep the fastest (off: oneDNN's first choice). */
  setAutotune(on: boolean): void;
  /** The type convolutions compute in (inputs and outputs stay fp32); throws for bf16 on a CPU without bf16 instructions. */
  setPrecision(precision: Precision): void;
  conv(kind: number, params: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array,
    bias?: Float32Array | null, activation?: number, alpha?: number): void;
  /** y = batch norm of x, plus `residual` when given, then max(0, y) with `relu`, in the same pass. */
  batchNormForward(params: Int32Array, x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number,
    y: Float32Array, mean: Float32Array, variance: Float32Array, relu?: boolean, residual?: Float32Array | null): void;
  /**
   * With `y` (the output of a batch norm with a fused ReLU), dy is the gradient of that ReLU's output; `dz` then
   * receives the ReLU's input gradient (a fused residual's gradient) from the same pass.
   */
  batchNormBackward(params: Int32Array, x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array,
    variance: Float32Array, eps: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, y?: Float32Array | null,
    dz?: Float32Array | null): void;
  channelNormalise(x: Float32Array, rows: number, c: number, center: Float32Array, scale: Float32Array, shift: Float32Array,
    out: Float32Array): void;
  relu(x: Float32Array, y: Float32Array, n: number): void;
  reluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, n: number): void;
  /** out = max(0, a + b) */
  addRelu(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  addN(inputs: Float32Array[], out: Float32Array, n: number): void;
  sgdUpdate(w: Float32Array, v: Float32Array, g: Float32Array, n: number, lr: number, momentum: number, weightDecay: number,
    nesterov: boolean, wOut: Float32Array, vOut: Float32Array): void;
  copyBlock(src: Float32Array, srcShape: number[], srcBegin: number[], dst: Float32Array, dstShape: number[],
    dstBegin: number[], size: number[]): void;
  fill(dst: Float32Array, value: number, n: number): void;
  binary(op: number, a: Float32Array, aStrides: number[], b: Float32Array, bStrides: number[], out: Float32Array, outShape: number[]): void;
  reduceSum(x: Float32Array, outer: number, reduce: number, inner: number, out: Float32Array, scale: number): void;
  pool(kind: number, algo: number, params: Int32Array, a: Float32Array, b: Float32Array | null, out: Float32Array): void;
  /** out[i] = op(a[i]) x op(b[i]) for i < batch (row-major; op transposes); an unbatched operand is shared by all i. */
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, aBatched: boolean, bBatched: boolean,
    m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): void;
}

/** Where the addon is looked for; ABLATE_NATIVE_ADDON overrides it (tests use it to simulate a missing build). */
export function addonPath(): string {
  return process.env.ABLATE_NATIVE_ADDON ?? path.resolve(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'ablate_native.node');
}

let addon: NativeAddon | undefined;

/**
 * OpenMP threads busy-wait after each parallel region by default, expecting the next one soon. Here
 * JavaScript runs between kernels, and the spinning threads take the cores that the JavaScript thread
 * and the other trials need: on a loaded 2-core machine a ResNet-20 step took 3.7x longer. Passive
 * waiting costs a wake-up per region instead. The runtime reads this once, when the kernels load, from
 * the C environment, which process.env does not reach from a worker thread; a small helper addon sets
 * it. A wait policy or spin count chosen by the user is kept.
 */
function preferPassiveOpenMP(dir: string): void {
  if (process.env.OMP_WAIT_POLICY !== undefined || process.env.GOMP_SPINCOUNT !== undefined) return;
  const helper = path.join(dir, 'ablate_env.node');
  if (!fs.existsSync(helper)) return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(helper) as {setDefault(name: string, value: string): string}).setDefault('OMP_WAIT_POLICY', 'passive');
  } catch {
    // Only a tuning default; the kernels work without it.
  }
}

/** Loads the addon once per JavaScript context; returns it, or the reason it cannot be used. */
export function loadAddon(): {ok: true; addon: NativeAddon} | {ok: false; reason: string} {
  if (addon) return {ok: true, addon};
  const file = addonPath();
  if (!fs.existsSync(file)) {
    return {ok: false, reason: `the native addon is not built (${file} does not exist)`};
  }
  try {
    preferPassiveOpenMP(path.dirname(file));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
    addon.info();
    return {ok: true, addon};
  } catch (err) {
    addon = undefined;
    return {ok: false, reason: `the native addon at ${file} failed to load: ${(err as Error).message.split('\n')[0]}`};
  }
}

/** What the addon reports about itself (oneDNN version, threading runtime, ISA), or undefined when not loadable. */
export function nativeInfo(): ReturnType<NativeAddon['info']> | undefined {
  const loaded = loadAddon();
  return loaded.ok ? loaded.addon.info() : undefined;
}

