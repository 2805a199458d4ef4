/**
 * The pure-JavaScript cpu backend for the model tests, with the gradients of tfjs-core's ops registered.
 *
 * tfjs-core's CommonJS bundle ships without its gradient registrations; they exist only as ES modules
 * whose relative imports lack file extensions, which Node's ESM resolver refuses. Unless something has
 * registered them already (engine/gradients.ts, where it loads), a resolve hook that adds `.js` lets Node import them.
 */
import * as tf from '@tensorflow/tfjs-core';
import {register} from 'node:module';

const HOOK = `
export async function resolve(specifier, context, next) {
  if (/^\\.\\.?\\//.test(specifier) && !/\\.[cm]?js$/.test(specifier)) {
    try { return await next(specifier + '.js', context); } catch {}
  }
  return next(specifier, context);
}`;

let ready: Promise<void> | undefined;

async function registerGradients(): Promise<void> {
  if (tf.getGradient('RealDiv') && tf.getGradient('Conv2D')) return;
  try {
    // The engine's own registration, where it can load.
    require('../../src/engine/gradients');
  } catch {
    // not available here: fall back to the ES modules below
  }
  if (tf.getGradient('RealDiv') && tf.getGradient('Conv2D')) return;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  // A literal import() (kept as such by the CommonJS emit through new Function) goes through the ESM loader.
  const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;
  await dynamicImport(`file://${entry}`);
  if (!tf.getGradient('RealDiv')) throw new Error('tfjs-core gradients could not be registered');
}

export function useCpuBackend(): Promise<void> {
  ready ??= (async () => {
    require('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    await tf.ready();
    await registerGradients();
  })();
  return ready;
}
