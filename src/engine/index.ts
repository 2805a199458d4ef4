/**
 * Engine selection. An engine is a tfjs backend plus, optionally, faster op implementations.
 *  - native-cpu: tfjs cpu backend with native kernels (see engine/native.ts); falls back to tfjs-cpu
 *    with one clear warning when the addon is not built.
 *  - tfjs-cpu: the pure-JavaScript reference.
 *  - tfjs-node, tfjs-node-gpu: loaded only where installed.
 */
import * as tf from '@tensorflow/tfjs-core';
import {EnvironmentError} from '../errors';
import {setOpImpls} from './ops';
import './gradients';

import type {EngineName} from './names';

export {ENGINE_NAMES, type EngineName} from './names';

export interface EngineInfo {
  /** The engine asked for. */
  requested: EngineName;
  /** The engine that actually runs (native-cpu may fall back to tfjs-cpu). */
  name: EngineName;
  backend: string;
  threads: number;
  /** Set when the engine fell back or degraded; shown once to the user. */
  warning?: string;
}

/** Engines that cannot run inside worker threads (they need one process per slot). */
export function needsProcess(engine: EngineName): boolean {
  return engine === 'tfjs-node' || engine === 'tfjs-node-gpu';
}

export function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

async function useCpuBackend(): Promise<void> {
  // PROD silences tfjs' advice to install tfjs-node (this engine choice is deliberate) and its debug checks.
  tf.env().set('PROD', true);
  require('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  await tf.ready();
}

export async function initEngine(requested: EngineName, threads: number): Promise<EngineInfo> {
  switch (requested) {
    case 'tfjs-cpu':
      setOpImpls(undefined);
      await useCpuBackend();
      return {requested, name: 'tfjs-cpu', backend: 'cpu', threads: 1};
    case 'native-cpu': {
      await useCpuBackend();
      // The native kernels are installed by engine/native.ts (issue: native CPU engine).
      const native = await import('./native').catch(() => undefined);
      const result = native ? native.installNativeKernels(threads) : {ok: false as const, reason: 'the native engine module is missing'};
      if (result.ok) return {requested, name: 'native-cpu', backend: 'cpu', threads};
      setOpImpls(undefined);
      return {
        requested, name: 'tfjs-cpu', backend: 'cpu', threads: 1,
        warning: `native-cpu engine unavailable (${result.reason}); training on the slow pure-JavaScript tfjs-cpu engine. ` +
          'Install the build tools and oneDNN (apt-get install g++ make libdnnl-dev) then run `node scripts/build-native.js` in the ablate folder (npm install runs it too).',
      };
    }
    case 'tfjs-node':
    case 'tfjs-node-gpu': {
      const pkg = `@tensorflow/${requested}`;
      if (!isInstalled(pkg)) {
        throw new EnvironmentError(`engine ${requested} is not installed`, {
          hint: `npm install ${pkg} (it downloads libtensorflow at install time${requested === 'tfjs-node-gpu' ? ' and needs CUDA 11.2 + cuDNN 8' : ''}), or use --engine native-cpu`,
        });
      }
      require(pkg);
      setOpImpls(undefined);
      await tf.setBackend('tensorflow');
      await tf.ready();
      return {requested, name: requested, backend: 'tensorflow', threads};
    }
  }
}
