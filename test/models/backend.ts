/** The pure-JavaScript reference engine (tfjs-cpu, gradients registered) for the model tests. */
import * as tf from '@tensorflow/tfjs-core';
import {initEngine} from '../../src/engine';

let ready: Promise<void> | undefined;

export function useCpuBackend(): Promise<void> {
  ready ??= (async () => {
    await initEngine('tfjs-cpu', 1);
    if (!tf.getGradient('Conv2D')) throw new Error('tfjs gradients are not registered');
  })();
  return ready;
}
