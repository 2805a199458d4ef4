/**
 * Engine selection. An engine is a tfjs backend plus, optionally, faster op implementations.
 *  - native-cpu: tfjs cpu backend with native kernels (see engine/native.ts); falls back to tfjs-cpu
 *    with one clear warning when the addon is not built.
 *  - tfjs-cpu: the pure-JavaScript reference.
 *  - tfjs-node, tfjs-node-gpu: loaded only where installed.
 */
import * as tf from '@tensorflow/tfjs-core';
import {setOpImpls} from './ops';
import './gradients';

import type {EngineName} from './names';

export {ENGINE_NAMES, checkEngineInstalled, type EngineName} from './names';
import {checkEngineInstalled} from './names';

export interface EngineInfo {
  /** The engine asked for. */
  requested: EngineName;
  /** The engine that actually runs (native-cpu may fall back to tfjs-cpu). */
  name: EngineName;
  backend: string;
  threads: number;
  /**
   * Whether kernels were chosen by timing them (resources.autotune). Off, results are bit-for-bit
   * repeatable for the same study, seed, engine, thread count and machine.
   */
  autotune: boolean;
  /** native-cpu: the kernel library and the instruction set it runs on (results depend on both). */
  native?: {dnnl: string; isa: string; cpuRuntime: string};
  /** Set when the engine fell back or degraded; shown once to the user. */
  warning?: string;
}

export interface EngineOptions {
  /** native-cpu: choose convolution kernels by timing them (see engine/native.ts NativeOptions). */
  autotune?: boolean;
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
      return {requested, name: 'tfjs-cpu', backend: 'cpu', threads: 1, autotune: false};
    case 'native-cpu': {
      await useCpuBackend();
      // The native kernels are installed by engine/native.ts.
      const native = await import('./native').catch(() => undefined);
      const autotune = opts.autotune ?? false;
      const result = native ? native.installNativeKernels(threads, {autotune}) : {ok: false as const, reason: 'the native engine module is missing'};
      if (result.ok) {
        const {dnnl, isa, cpuRuntime} = native!.nativeInfo()!;
        return {requested, name: 'native-cpu', backend: 'cpu', threads, autotune, native: {dnnl, isa, cpuRuntime}};
      }
      setOpImpls(undefined);
      return {
        requested, name: 'tfjs-cpu', backend: 'cpu', threads: 1, autotune: false,
        warning: `native-cpu engine unavailable (${result.reason}); training on the slow pure-JavaScript tfjs-cpu engine. ` +
          'Install the build tools and oneDNN (apt-get install g++ make libdnnl-dev) then run `node scripts/build-native.js` in the ablate folder (npm install runs it too).',
      };
    }
    case 'tfjs-node':
    case 'tfjs-node-gpu': {
      checkEngineInstalled(requested);
      require(`@tensorflow/${requested}`);
      setOpImpls(undefined);
      await tf.setBackend('tensorflow');
      await tf.ready();
      return {requested, name: requested, backend: 'tensorflow', threads, autotune: false};
    }
  }
}

/** Give back memory an engine keeps between steps (the native engine's buffer pool); called after each trial. */
export async function releaseEngineMemory(engine: EngineName): Promise<void> {
  if (engine === 'native-cpu') (await import('./native')).releaseNativeBuffers();
}
