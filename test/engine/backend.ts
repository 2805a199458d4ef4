/**
 * Test backends for the engine tests: the pure-JavaScript tfjs cpu backend (the reference, set up the way
 * the tfjs-cpu engine does it, gradients included) and switching the native kernels on and off over it.
 */
import * as tf from '@tensorflow/tfjs-core';
import {initEngine} from '../../src/engine';
import type {compositeConv2d} from '../../src/engine/ops';
import {installNativeKernels, loadAddon, uninstallNativeKernels} from '../../src/engine/native';
import {requires} from '../helpers';

let ready: Promise<unknown> | undefined;

export function cpuBackend(): Promise<unknown> {
  ready ??= initEngine('tfjs-cpu', 1);
  return ready;
}

/** Why the native tests cannot run here, or false when they can (for `test(..., {skip})`; a failure with ABLATE_REQUIRE_NATIVE=1). */
export function nativeSkipReason(): string | false {
  const r = loadAddon();
  return requires('NATIVE', r.ok ? false : `native addon unavailable: ${r.reason} (build it with \`node scripts/build-native.js\`)`);
}

/** Runs `fn` on the reference kernels, then on the native kernels, returning both results. */
export function onBoth<T>(fn: () => T, threads = 2): {ref: T; got: T} {
  uninstallNativeKernels();
  const ref = fn();
  const r = installNativeKernels(threads);
  if (!r.ok) throw new Error(r.reason);
  try {
    return {ref, got: fn()};
  } finally {
    uninstallNativeKernels();
  }
}

/**
 * A convolution through `impl` and its gradients for the input and the filter, the output weighted by `r`
 * (so that every output element's gradient is distinct): [y, dx, dfilter], kept past the scope.
 */
export function convWithGrads(
  impl: typeof compositeConv2d, x: tf.Tensor, f: tf.Tensor, r: tf.Tensor, stride: number, pad: number, groups: number,
): tf.Tensor[] {
  return tf.tidy(() => {
    const y = impl(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad, groups);
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(impl(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad, groups), r)))([x, f]);
    return [y, dx, df].map((t) => tf.keep(t));
  });
}
