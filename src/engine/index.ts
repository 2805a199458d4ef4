/**
 * Engine selection. An engine is a tfjs backend plus, optionally, faster op implementations.
 *  - native-cpu: tfjs cpu backend with native kernels (see engine/native.ts); falls back to tfjs-cpu
 *    with one clear warning when the addon is not built.
 *  - tfjs-cpu: the pure-JavaScript reference.
 *  - tfjs-node, tfjs-node-gpu: loaded only where installed.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import {setOpImpls} from './ops';
import './gradients';

import type {EngineName} from './names';

export {ENGINE_NAMES, checkEngineInstalled, type EngineName} from './names';
import {checkEngineInstalled} from './names';
import {NATIVE_BUILD_HINT} from './available';
import {BF16_HINT, nativeBf16Refusal, type Precision} from './precision';
import {UsageError} from '../errors';

export interface EngineInfo {
  /** The engine asked for. */
  requested: EngineName;
  /** The engine that actually runs (native-cpu may fall back to tfjs-cpu). */
  name: EngineName;
  backend: string;
  threads: number;
  /**
   * Versions of what computes the numbers (tfjs, oneDNN; torch, CUDA, cuDNN, Python), and the processor;
   * stored with every trial. null: the engine has none of that library (torch on a CPU has no CUDA).
   */
  versions: Record<string, string | null>;
  /**
   * Whether kernels were chosen by timing them (resources.autotune). Off, results are bit-for-bit
   * repeatable for the same study, seed, engine, thread count and machine.
   */
  autotune: boolean;
  /** native-cpu: the type convolutions compute in (train.precision); bf16 results differ from fp32 beyond the last bits. */
  precision?: Precision;
  /** native-cpu: the kernel library and the instruction set it runs on (results depend on both). */
  native?: {dnnl: string; isa: string; cpuRuntime: string};
  /** Set when the engine fell back or degraded; shown once to the user. */
  warning?: string;
  /** What computes: a GPU's name, or the CPU model. */
  device?: string;
}

/** What every engine of this process shares: Node.js, tfjs-core and the processor. */
function baseVersions(): Record<string, string> {
  return {node: process.versions.node, 'tfjs-core': tf.version_core, cpu: os.cpus()[0]?.model?.trim() ?? 'unknown'};
}

export interface EngineOptions {
  /** native-cpu: choose convolution kernels by timing them (see engine/native.ts NativeOptions). */
  autotune?: boolean;
  /** native-cpu: train.precision; bf16 is refused where the CPU has no bf16 instructions (engine/precision.ts). */
  precision?: Precision;
}

async function useCpuBackend(): Promise<void> {
  // PROD silences tfjs' advice to install tfjs-node (this engine choice is deliberate) and its debug checks.
  tf.env().set('PROD', true);
  require('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  await tf.ready();
}

export async function initEngine(requested: EngineName, threads: number, opts: EngineOptions = {}): Promise<EngineInfo> {
  switch (requested) {
    case 'tfjs-cpu':
      // The reference engine: undo native kernels an earlier trial of this worker may have installed.
      (await import('./native')).uninstallNativeKernels();
      setOpImpls(undefined);
      await useCpuBackend();
      return {requested, name: 'tfjs-cpu', backend: 'cpu', threads: 1, autotune: false, versions: baseVersions()};
    case 'native-cpu': {
      await useCpuBackend();
      // The native kernels are installed by engine/native.ts.
      const native = await import('./native').catch(() => undefined);
      const autotune = opts.autotune ?? false;
      const precision = opts.precision ?? 'fp32';
      if (precision === 'bf16') {
        // The coordinator refuses this before any trial starts (experiments/runner.ts); a worker that still sees it
        // fails the trial rather than train in fp32 or emulate bf16.
        const loaded = native ? native.loadAddon() : {ok: false as const, reason: 'the native engine module is missing'};
        const refusal = nativeBf16Refusal(loaded.ok ? loaded.addon.info() : loaded);
        if (refusal) throw new UsageError(`train.precision bf16 cannot run on native-cpu: ${refusal}`, {hint: BF16_HINT});
      }
      const result = native ? native.installNativeKernels(threads, {autotune, precision}) : {ok: false as const, reason: 'the native engine module is missing'};
      if (result.ok) {
        const {dnnl, isa, cpuRuntime, convolutions, matrixProducts} = native!.nativeInfo()!;
        return {
          requested, name: 'native-cpu', backend: 'cpu', threads, autotune, precision, native: {dnnl, isa, cpuRuntime},
          versions: {...baseVersions(), oneDNN: dnnl, 'cpu runtime': cpuRuntime, isa, convolutions, 'matrix products': matrixProducts},
        };
      }
      setOpImpls(undefined);
      return {
        requested, name: 'tfjs-cpu', backend: 'cpu', threads: 1, autotune: false, versions: baseVersions(),
        warning: `native-cpu engine unavailable (${result.reason}); training on the slow pure-JavaScript tfjs-cpu engine. ` +
          `For the fast one: ${NATIVE_BUILD_HINT}`,
      };
    }
    case 'torch':
      // The torch engine runs in Python worker processes (experiments/torch-executor.ts), never in this process.
      throw new Error('the torch engine runs in its own Python worker; it cannot be initialised in a Node.js worker');
    case 'tfjs-node':
    case 'tfjs-node-gpu': {
      checkEngineInstalled(requested);
      const pkg = require(`@tensorflow/${requested}`) as {version?: Record<string, string>};
      setOpImpls(undefined);
      await tf.setBackend('tensorflow');
      await tf.ready();
      return {requested, name: requested, backend: 'tensorflow', threads, autotune: false, versions: {...baseVersions(), [requested]: pkg.version?.[requested] ?? 'unknown'}};
    }
  }
}

/** Give back memory an engine keeps between steps (the native engine's buffer pool); called after each trial. */
export async function releaseEngineMemory(engine: EngineName): Promise<void> {
  if (engine === 'native-cpu') (await import('./native')).releaseNativeBuffers();
}
