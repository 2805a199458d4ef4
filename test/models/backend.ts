/** The pure-JavaScript cpu backend for the model tests, with the gradients of tfjs-core's ops registered by the engine. */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/engine/gradients';

let ready: Promise<void> | undefined;

export function useCpuBackend(): Promise<void> {
  ready ??= (async () => {
    require('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    await tf.ready();
    if (!tf.getGradient('Conv2D')) throw new Error('tfjs gradients are not registered');
  })();
  return ready;
}
