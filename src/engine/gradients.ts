/**
 * tfjs-core's CommonJS build does not register the gradients of its ops (its ES-module entry does, and the
 * @tensorflow/tfjs package bundles them). Training needs them: importing this module registers them once
 * in the shared tfjs-core registry.
 *
 * The @tensorflow/tfjs bundle also loads tfjs-layers, tfjs-converter, tfjs-data and the WebGL backend, of which
 * it only re-exports names and reads version strings: about a quarter of a second in every worker thread of a
 * sweep, and most of a tiny trial's start. While the bundle loads, those four are served as empty modules from
 * Node's module cache (`require.cache`, which Node documents as writable); the entries are removed afterwards,
 * so a later `require` of any of them loads the real package. Whether the gradients arrived is checked, not assumed.
 */
import {Module} from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import {EnvironmentError} from '../errors';

const UNUSED = ['@tensorflow/tfjs-layers', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-data', '@tensorflow/tfjs-backend-webgl'];

/** Gradients training needs from the bundle: if these are registered, the bundle's registration ran. */
const NEEDED = ['Conv2D', 'FusedBatchNorm', 'Relu', 'Add', 'BatchMatMul', 'Softmax', 'AvgPool', 'Mean'];

function loadGradients(): void {
  if (NEEDED.every((k) => tf.getGradient(k) !== undefined)) return;
  const bundle = require.resolve('@tensorflow/tfjs');
  const stubbed: string[] = [];
  if (require.cache[bundle] === undefined) {
    for (const name of UNUSED) {
      let file: string;
      try {
        file = require.resolve(name, {paths: [bundle]});
      } catch {
        continue; // not installed: the bundle's own require reports it
      }
      if (require.cache[file] !== undefined) continue;
      const stub = new Module(file);
      stub.filename = file;
      stub.loaded = true;
      stub.exports = {};
      require.cache[file] = stub;
      stubbed.push(file);
    }
  }
  try {
    require(bundle);
  } finally {
    for (const file of stubbed) delete require.cache[file];
  }
  const missing = NEEDED.filter((k) => tf.getGradient(k) === undefined);
  if (missing.length > 0) {
    throw new EnvironmentError(`@tensorflow/tfjs ${tf.version_core} did not register the gradients of ${missing.join(', ')}`, {
      hint: 'install the tfjs version ablate pins in package.json (npm ci)',
    });
  }
}

loadGradients();
